import io

import pytest
from PIL import Image

from line_messaging.services.richmenus import (
    HEIGHT,
    WIDTH,
    _font,
    _label_size,
    menu_designs,
    menu_image_generate,
)


@pytest.mark.parametrize("name", ["unlinked", "linked"])
def test_generated_menu_image_meets_line_limits(name):
    png = menu_image_generate(menu_designs()[name])

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    assert len(png) <= 1024 * 1024
    assert 800 <= WIDTH <= 2500 and HEIGHT >= 250 and WIDTH / HEIGHT >= 1.45


@pytest.mark.parametrize("name", ["unlinked", "linked"])
def test_every_label_fits_inside_its_tile(name):
    design = menu_designs()[name]
    for area, spec in zip(design.areas, design.definition()["areas"], strict=True):
        room = spec["bounds"]["width"] - 24 - 80
        label = area.label.replace("・", "・\n")
        size = _label_size(label, max_width=room)
        assert max(_font(size).getlength(line) for line in label.split("\n")) <= room, area.label


def test_menu_areas_cover_the_menu_without_overlap():
    for design in menu_designs().values():
        bounds = [a["bounds"] for a in design.definition()["areas"]]
        assert bounds[0]["x"] == 0
        assert sum(b["width"] for b in bounds) == WIDTH
        assert all(b["x"] + b["width"] <= WIDTH for b in bounds)
