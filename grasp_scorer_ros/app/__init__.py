"""What starts the running system: the node list shared by the launch file and the demo."""
