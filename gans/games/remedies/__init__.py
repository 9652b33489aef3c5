"""Mode-collapse remedies that games compose: an unrolled discriminator, experience replay."""
