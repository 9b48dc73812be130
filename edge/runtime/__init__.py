"""Running streams side by side: one failing never takes the others down."""
