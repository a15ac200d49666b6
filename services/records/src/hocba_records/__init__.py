"""Hocba records service: schools, classes, students and their enrollments."""
