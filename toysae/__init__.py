"""toysae: toy-model simulations of sparse autoencoders with known ground truth."""
