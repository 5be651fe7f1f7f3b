"""Meetings: times in a site's zone and the dates a plan falls on
(:mod:`geo.meetings.recurrence`), and attendance from visits (:mod:`geo.meetings.roll_call`)."""
