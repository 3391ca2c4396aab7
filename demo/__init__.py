"""The bundled sample clinic site and the demo that watches it."""
