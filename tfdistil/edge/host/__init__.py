"""Host runtimes: LiteRT / TFLite Micro evaluation, what runs where, the Pi checks under emulation."""
