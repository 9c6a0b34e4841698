"""Why a model answered as it did: saliency, nearest training digits, layer activations, what-if readings, pictures."""
