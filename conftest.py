"""Every notebook kernel a pytest run of this repository starts (nbmake in `make test`) fails on a request for input."""
pytest_plugins = ("course_tools.kernel_guard",)
