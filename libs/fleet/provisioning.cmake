# Fleet provisioning (filled by its author).
