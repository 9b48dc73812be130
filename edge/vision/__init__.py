"""What the box sees: keyframes, on-screen text (OCR), face blurring and the latest frame per stream."""
