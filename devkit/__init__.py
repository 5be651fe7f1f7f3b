"""development-only tools: simulators and test services, not part of the product."""
