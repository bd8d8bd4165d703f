"""warmline: greet the caller at once, clone their voice in the background, hand over when ready."""
