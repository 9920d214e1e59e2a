"""The one offline protocol every method and backbone is evaluated under (DESIGN.md section 4)."""
