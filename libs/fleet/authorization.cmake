# Device authorization (filled by its author).
