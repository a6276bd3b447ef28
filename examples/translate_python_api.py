"""Use a trained model from Python: eight cats for one dog, and one cat in the style of a reference.

    python examples/translate_python_api.py runs/dog2cat/checkpoints/latest.safetensors dog.jpg cat.jpg
"""

import sys

from munit_cli import load_checkpoint
from munit_cli.data import image_grid, load_image, preprocess, save_image
from munit_cli.inference import encode_style, sample_styles, translate
from munit_cli.precision import cast_for_inference

checkpoint, content_path, reference_path = sys.argv[1:4]
model = load_checkpoint(checkpoint, use_ema=True)  # EMA generator weights when the run kept them
cast_for_inference(model, "auto")  # bf16 weights where the CPU or GPU computes bf16 natively
dog = preprocess(load_image(content_path), 256).unsqueeze(0)
cat = preprocess(load_image(reference_path), 256).unsqueeze(0)

random_cats = translate(model.gen_a, model.gen_b, dog, sample_styles(8, model.config.style_dim, seed=0))
guided_cat = translate(model.gen_a, model.gen_b, dog, encode_style(model.gen_b, cat))
save_image(image_grid([[dog[0], *random_cats[0]], [cat[0], *guided_cat[0]]]), "python_api_demo.png")
print("wrote python_api_demo.png")
