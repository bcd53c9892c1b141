"""What the camera sees: every domain-randomisation factor of the synthetic scenes, in one place.

A :class:`Look` names each factor of the rendering with the range it is drawn from (uniformly,
per scene unless said otherwise): a ``(lo, hi)`` tuple for a continuous factor, a tuple of names
for a family. Sizes are fractions of the image side, so one look serves every image size. The
geometry (shapes, placement, grasps) never depends on these factors beyond the choice of shape
kind, so grasps stay correct by construction whatever the look.

Two looks are named in :data:`LOOKS`:

* ``"train"``: broad variation, for training;
* ``"heldout"``: the same lighting and camera, but shape families, table textures and object
  patterns that ``"train"`` never shows (tools, gears, stars and crescents; marble, granite and
  tiles; camouflage, zigzag and concentric patterns), under warmer light than ``"train"``'s.
  Object sets of a non-train look are named with the look as prefix (``heldout-set0003``), so
  scenes of both looks can share a folder without sharing an object id.

A look is a frozen dataclass: variants are made with :func:`dataclasses.replace`, e.g.
``replace(LOOKS["train"], distractors=(0, 0))``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Tuple, Union

Range = Tuple[float, float]

#: The families each look draws from. Registries of the renderers: shape kinds in
#: :data:`.shapes.SHAPES`, table textures in :data:`.render.TABLE_TEXTURES`, object patterns in
#: :data:`.render.OBJECT_PATTERNS`.
SHAPE_KINDS = ("bar", "ellipse", "disc", "polygon", "L", "T", "plus", "ring", "mug", "capsule", "blob", "U",
               "bottle", "hammer", "spatula", "wrench", "spoon", "gear", "star", "crescent")
TABLE_TEXTURES = ("plain", "wood", "checker", "weave", "speckle", "fractal", "fabric", "paper", "cardboard",
                  "concrete", "marble", "granite", "tiles")
OBJECT_PATTERNS = ("plain", "stripes", "checker", "dots", "band", "speckle", "gradient", "mottle", "label",
                   "camo", "zigzag", "concentric")
MATERIALS = ("matte", "glossy", "metallic")
DISTRACTOR_KINDS = ("paper", "sticker", "tape", "decal")


@dataclass(frozen=True)
class Look:
    """The domain-randomisation factors of the rendering, each with the range it is drawn from.

    Objects (drawn once per object prototype, so an object keeps its appearance across scenes):

    * ``shape_kinds``: the outline families objects are drawn from;
    * ``object_patterns``: surface patterns printed on objects;
    * ``materials``: ``matte`` (diffuse shading only), ``glossy`` (plus a specular highlight on
      the side of the object facing the light) and ``metallic`` (desaturated, brushed streaks,
      a stretched highlight tinted by the metal's colour);
    * ``object_saturation``, ``object_value``: HSV saturation and value of object colours (0-1);
    * ``pattern_period``: period of the object patterns, fraction of the image side;
    * ``outline_probability``: chance that an object has a darker printed rim.

    Table (per scene): ``table_textures`` (families), ``table_saturation``, ``table_value`` (HSV,
    0-1, of its base colour) and ``table_contrast`` (strength of the texture, 0: flat colour,
    1: the family's full contrast).

    Light (per scene): ``light_azimuth_deg`` (where the light comes from, in the image plane),
    ``light_elevation_deg`` (height of the light above the table: low light casts long shadows and
    moves highlights off centre), ``light_intensity`` (overall gain), ``light_gradient`` (relative
    brightness change across the image, brighter towards the light), ``light_warmth`` (white
    balance: + warm, red up and blue down; - cold), ``light_green`` (green-magenta tint),
    ``vignette`` (relative darkening of the corners).

    Shadows (per scene, cast away from the light): ``shadow_strength`` (share of the light blocked
    in a shadow's core), ``shadow_length`` (offset of the shadow from its object at 45 degrees of
    elevation, fraction of the image side; it is divided by ``tan(elevation)``),
    ``shadow_softness`` (blur of the shadow's edge, fraction of the image side).

    Distractors (per scene): ``distractors`` (fewest and most flat items printed on the table) of
    ``distractor_kinds``: ``paper`` (a sheet with lines of print), ``sticker`` (small round or
    square label), ``tape`` (a translucent strip), ``decal`` (a printed arrow or polygon). They are
    part of the table: label 0, never grasped, never in the way of a finger.

    Camera (per scene): ``noise_sigma`` (Gaussian read noise, grey levels of 255),
    ``shot_noise`` (signal-dependent noise: the variance grows by this many grey levels per grey
    level of signal), ``defocus_probability`` and ``defocus_radius`` (disc blur, fraction of the
    image side), ``motion_blur_probability`` and ``motion_blur_length`` (line blur in a random
    direction, fraction of the image side), ``jpeg_probability`` and ``jpeg_quality`` (a
    round trip through JPEG compression).
    """
    name: str = "train"
    # Objects
    shape_kinds: Tuple[str, ...] = ("bar", "ellipse", "disc", "polygon", "L", "T", "plus", "ring", "mug",
                                    "capsule", "blob", "U", "bottle")
    object_patterns: Tuple[str, ...] = ("plain", "stripes", "checker", "dots", "band", "speckle", "gradient",
                                        "mottle", "label")
    materials: Tuple[str, ...] = MATERIALS
    object_saturation: Range = (0.0, 1.0)
    object_value: Range = (0.2, 0.95)
    pattern_period: Range = (0.015, 0.05)
    outline_probability: float = 0.3
    # Table
    table_textures: Tuple[str, ...] = ("plain", "wood", "checker", "weave", "speckle", "fractal", "fabric",
                                       "paper", "cardboard", "concrete")
    table_saturation: Range = (0.0, 0.8)
    table_value: Range = (0.15, 0.95)
    table_contrast: Range = (0.3, 1.0)
    # Light
    light_azimuth_deg: Range = (0.0, 360.0)
    light_elevation_deg: Range = (30.0, 85.0)
    light_intensity: Range = (0.7, 1.2)
    light_gradient: Range = (0.0, 0.4)
    light_warmth: Range = (-0.12, 0.12)
    light_green: Range = (-0.05, 0.05)
    vignette: Range = (0.0, 0.5)
    # Shadows
    shadow_strength: Range = (0.1, 0.6)
    shadow_length: Range = (0.004, 0.025)
    shadow_softness: Range = (0.002, 0.015)
    # Distractors
    distractors: Tuple[int, int] = (0, 4)
    distractor_kinds: Tuple[str, ...] = DISTRACTOR_KINDS
    # Camera
    noise_sigma: Range = (0.0, 6.0)
    shot_noise: Range = (0.0, 0.5)
    defocus_probability: float = 0.3
    defocus_radius: Range = (0.0015, 0.006)
    motion_blur_probability: float = 0.15
    motion_blur_length: Range = (0.005, 0.015)
    jpeg_probability: float = 0.3
    jpeg_quality: Range = (40.0, 95.0)

    def __post_init__(self):
        families = {"shape_kinds": SHAPE_KINDS, "object_patterns": OBJECT_PATTERNS, "materials": MATERIALS,
                    "table_textures": TABLE_TEXTURES, "distractor_kinds": DISTRACTOR_KINDS}
        for name, known in families.items():
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"look {self.name!r}: {name} must be a non-empty tuple of names")
            unknown = [v for v in value if v not in known]
            if unknown:
                raise ValueError(f"look {self.name!r}: unknown {name} {unknown}; known: {', '.join(known)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in families or f.name == "name":
                continue
            if f.name.endswith("probability"):
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"look {self.name!r}: {f.name} must be in [0, 1], got {value}")
            elif not (isinstance(value, tuple) and len(value) == 2 and value[0] <= value[1]):
                raise ValueError(f"look {self.name!r}: {f.name} must be a (lo, hi) range, got {value!r}")
        if self.distractors[0] < 0:
            raise ValueError(f"look {self.name!r}: distractors must be >= 0, got {self.distractors}")

    def ranges(self) -> Dict[str, object]:
        """Every factor by name (for the manifest and the documentation)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


TRAIN_LOOK = Look()

HELDOUT_LOOK = Look(
    name="heldout",
    shape_kinds=("hammer", "spatula", "wrench", "spoon", "gear", "star", "crescent"),
    object_patterns=("camo", "zigzag", "concentric"),
    table_textures=("marble", "granite", "tiles"),
    light_warmth=(0.12, 0.25),
)

LOOKS: Dict[str, Look] = {"train": TRAIN_LOOK, "heldout": HELDOUT_LOOK}


def resolve_look(look: Union[str, Look]) -> Look:
    """The :class:`Look` named ``look`` in :data:`LOOKS`, or ``look`` itself."""
    if isinstance(look, Look):
        return look
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}; choose one of {', '.join(LOOKS)}")
    return LOOKS[look]
