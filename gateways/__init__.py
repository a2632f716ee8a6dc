"""The PG adapter layer: no models, and it never imports payments."""
