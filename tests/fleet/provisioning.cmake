# Tests of fleet provisioning (filled by its author).
