"""The Draw page's figures: the probability chart built fast, and the model's view inlined in the page."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from digitlab.ui.figures.probabilities import pixel_image, png_data_url, probability_chart


def test_fast_chart_is_the_figure_plotly_would_validate():
    """Test that the chart built without validation equals the one plotly's validating constructor builds."""
    probabilities = np.array([0.01, 0.7, 0.05, 0.004, 0.1, 0.03, 0.02, 0.05, 0.026, 0.02])
    fast = probability_chart(probabilities)
    checked = probability_chart(probabilities, validate=True)
    assert fast.to_dict() == checked.to_dict()
    assert list(fast.data[0].marker.color).count("#FF4B4B") == 1  # only digit 1, the top one, is highlighted
    assert fast.data[0].text[1] == "70%"


def test_model_view_data_url_holds_the_enlarged_pixels():
    """Test that the inlined model view decodes to exactly the enlarged 28x28 image."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    enlarged = pixel_image(digit, 7)
    url = png_data_url(enlarged)
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, enlarged)
