"""The control plane: what each Lambda API operation does to the stored records."""
