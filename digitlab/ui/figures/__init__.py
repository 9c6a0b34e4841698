"""Figure builders for the pages: plotly and numpy pictures only, no Streamlit."""
