"""Infrastructure shared by Hocba's services (no domain code lives here)."""
