"""What one does with a trained run: rebuild it (runs), sample it, evaluate it, walk its latent
space, reconstruct (VAEs) and translate (image-to-image games)."""
