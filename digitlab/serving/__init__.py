"""Any image -> the 28x28 the model sees -> the LiteRT predictor -> a reading; numbers too.

Serving never imports TensorFlow at module level, nor anything from training."""
