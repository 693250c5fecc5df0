"""Using trained models: predict, export, convert, and the standalone loader that export ships."""
