"""Images as the service accepts them: bounded, sniffed, checked before decoding."""
