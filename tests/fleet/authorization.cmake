# Tests of device authorization and the broker plugin (filled by its author).
