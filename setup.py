"""embedkit: sentence-transformers in plain PyTorch."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="embedkit",
    version="0.1.0",
    description="A pure-PyTorch, minimal-dependency reimplementation of sentence-transformers",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author="The embedkit authors",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    packages=find_packages(include=["embedkit", "embedkit.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.13,<2.14",  # the series CI tests (.ci/run installs the 2.13.0 CPU build first)
        "tokenizers>=0.19",
        "safetensors>=0.4",
        "numpy>=1.24",
        "huggingface_hub>=0.23",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        # Only for tests/generate_*fixtures.py (run by hand); never imported by embedkit or the tests.
        "dev": ["sentence-transformers>=6.0", "transformers>=4.41", "datasets", "accelerate", "scipy", "scikit-learn"],
    },
    entry_points={"console_scripts": ["embedkit=embedkit.cli:main"]},
)
