// LSeg module
