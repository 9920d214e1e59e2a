"""The one offline protocol every method and backbone is evaluated under (docs/METHOD.md section 6)."""
