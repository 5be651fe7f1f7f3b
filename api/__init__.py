"""HTTP API (FastAPI): organisations, sites, members, devices, check-ins, meetings, live feed."""
