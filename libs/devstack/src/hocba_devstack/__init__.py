"""Hocba's local stack: broker, database and the five services as processes on one machine."""
