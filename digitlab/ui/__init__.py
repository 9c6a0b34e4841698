"""The Streamlit layer: the only part of DigitLab that imports streamlit."""
