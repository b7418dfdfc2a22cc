"""Numbers the seed projects published, quoted for comparison in the lessons and never computed by the course."""
from __future__ import annotations

# A few (epoch, training loss) points read off the loss tables the seeds published with their LLaMA-Factory runs
# (LoRA, lr 1e-4 cosine, 2 x A100, 10 epochs planned; Pseudorec monthly write-up, June 2024). Quoted for comparison
# in lesson 08. Note the drops right after epochs 1 and 5: the model is reciting.
SEED_REPORTED_LOSS: dict[str, tuple[tuple[float, float], ...]] = {
    "Llama-3-Alpha-Ko-8B (seed)": (
        (0.32, 1.852), (0.97, 1.650), (1.13, 1.513), (1.94, 1.323), (2.90, 1.147), (3.87, 0.900),
        (4.84, 0.669), (5.00, 0.685), (5.16, 0.466), (5.97, 0.495), (6.94, 0.358), (7.90, 0.276), (8.39, 0.219),
    ),
    "Qwen2-7B (seed)": (
        (0.16, 2.166), (0.97, 1.602), (1.13, 1.483), (1.94, 1.307), (2.90, 1.150), (3.87, 0.938),
        (4.84, 0.724), (5.00, 0.754), (5.16, 0.544), (5.97, 0.573), (6.94, 0.426), (7.42, 0.355),
    ),
}
