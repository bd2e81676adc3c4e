"""pip-installable ROS-free core of mixformerv2_ros: the model, the tracker and the tools.

`pip install .` gives `import mixformerv2_ros.model / .tracker` and the command-line tools
without ROS. The ROS 2 package itself (interfaces, node, launch files) is built by colcon from
package.xml/CMakeLists.txt; see the README.
"""

from setuptools import find_packages, setup

setup(
    name="mixformerv2_ros",
    version="0.1.0",
    description="MixFormerV2 single-object tracker: PyTorch/ONNX Runtime core and ROS 2 node",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["mixformerv2_ros", "mixformerv2_ros.*"]),
    package_data={"mixformerv2_ros": ["models/*.onnx", "models/*.md", "models/*.mp4"]},
    install_requires=[
        # torch is not pinned here (users bring their CUDA build); install with
        # `-c requirements/constraints-kilted.txt` to get this project's pinned CPU build.
        "torch>=2.1",
        "numpy>=1.24",
        "onnx>=1.16",
        "onnxscript>=0.1",
        "onnxruntime>=1.17",
        "opencv-python-headless>=4.8",
        "tqdm>=4.60",
        "matplotlib>=3.7",
    ],
    # precision: auto also tries OpenVINO's CPU paths when this is installed
    extras_require={"openvino": ["openvino>=2024.0"]},
    entry_points={
        "console_scripts": [
            "mixformerv2-export = mixformerv2_ros.tools.export:main",
            "mixformerv2-bench = mixformerv2_ros.tools.bench:main",
            "mixformerv2-eval = mixformerv2_ros.tools.evaluate:main",
            "mixformerv2-video = mixformerv2_ros.tools.video:main",
        ],
    },
)
