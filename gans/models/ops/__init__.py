"""Operations the networks are built from, apart from the networks: convolutions whose
gradients XLA:CPU runs fast (convolution), and the per-platform choice of convolution layers."""
