"""Pure functions on arrays, no module state. One NumPy-API path for NumPy and CuPy."""
