// Convert module
