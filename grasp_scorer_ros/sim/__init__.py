"""Simulation: the stand-ins for what a real cell has, in one home that the real robot side never
imports (``fanuc/``, ``camera/`` and ``network/`` know nothing of it).

* :mod:`.sim_controller`  :class:`SimulatedController`, an RMI server as strict as the manual, and
  :mod:`.sim_arm`, its arm's kinematics
* :mod:`.cell_scene`      the physics cell's scenes: the synthetic generator's objects with height
  and mass, and the shapes hard for a parallel gripper
* :mod:`.physics_cell`    :class:`PhysicsCell`: MuJoCo table, calibrated overhead camera, gripper
* :mod:`.pick_trial`      one pick-and-place of a planned grasp in the cell, and its outcome
* :mod:`.trials`          ``grasp-scorer-trials``: many seeded trials, scored like the paper's robot
* :mod:`.physics_world`   the cell driven by a :class:`SimulatedController` on the wall clock (the
  ``world:=physics`` launch)

Nothing here is imported by this package's ``__init__``: MuJoCo loads only where a cell is built.
"""
