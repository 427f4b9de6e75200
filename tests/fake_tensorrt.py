"""This is a fake, not TensorRT: it records calls so the network-building code can be tested
without a GPU.

It mimics the few names of the TensorRT 10 Python API (and pycuda.driver) that engines/build.py,
engines/calibrator.py and engines/backends/tensorrt.py call, and checks argument types and order
the way the real bindings would reject them (``parse`` gets bytes, ``set_memory_pool_limit`` a
MemoryPoolType and an int, ``set_flag`` a BuilderFlag ...). The ONNX graph is read with ONNX
Runtime only to learn its input and output shapes. Its "engine" is JSON, and its "inference" is
a made-up function of the input (each output is the mean of its input sample), so tests can check
that the right data reaches the right place, never that TensorRT computes the right numbers.

``make_fakes()`` returns a fresh (trt, cuda) pair sharing one fake device memory; nothing here
is module-level mutable state.
"""
from __future__ import annotations

import enum
import json
import types
from typing import Any, Optional

import numpy as np


class FakeTensorRT(types.SimpleNamespace):
    """The fake ``tensorrt`` module: its attributes are filled in by ``make_fakes``."""


class FakeLogger:
    WARNING = "WARNING"
    INFO = "INFO"

    def __init__(self, severity: str = "WARNING") -> None:
        self.severity = severity


class FakeTensor:
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name = name
        self.shape = shape


class FakeNetwork:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.inputs: list[FakeTensor] = []
        self.outputs: list[FakeTensor] = []

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, i: int) -> FakeTensor:
        return self.inputs[i]

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_output(self, i: int) -> FakeTensor:
        return self.outputs[i]


class FakeParser:
    def __init__(self, network: FakeNetwork, logger: FakeLogger, trt: FakeTensorRT) -> None:
        assert isinstance(network, FakeNetwork) and isinstance(logger, FakeLogger)
        self.network = network
        self.errors: list[str] = []
        trt.calls.append(("OnnxParser",))

    def parse(self, model: bytes) -> bool:
        if not isinstance(model, (bytes, bytearray)):
            raise TypeError(f"parse() takes the serialized ONNX model as bytes, got {type(model)}")
        import onnxruntime as ort

        try:
            sess = ort.InferenceSession(bytes(model), providers=["CPUExecutionProvider"])
        except Exception as exc:
            self.errors = [f"In node -1 (parseGraph): INVALID_GRAPH: {str(exc).splitlines()[0]}",
                           "ModelImporter.cpp:773: failed to parse ONNX model"]
            return False

        def dims(shape):
            return tuple(d if isinstance(d, int) else -1 for d in shape)

        self.network.inputs = [FakeTensor(i.name, dims(i.shape)) for i in sess.get_inputs()]
        self.network.outputs = [FakeTensor(o.name, dims(o.shape)) for o in sess.get_outputs()]
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> str:
        return self.errors[i]


class FakeProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple] = {}

    def set_shape(self, name: str, min: tuple, opt: tuple, max: tuple) -> None:  # noqa: A002
        assert isinstance(name, str)
        for s in (min, opt, max):
            assert all(isinstance(d, int) and d > 0 for d in s), s
        assert all(a <= b <= c for a, b, c in zip(min, opt, max)), (min, opt, max)
        self.shapes[name] = (tuple(min), tuple(opt), tuple(max))


class FakeConfig:
    def __init__(self, trt: FakeTensorRT) -> None:
        self._trt = trt
        self.pool_limits: dict[Any, int] = {}
        self.flags: set = set()
        self.profiles: list[FakeProfile] = []
        self.calibration_profile: Optional[FakeProfile] = None
        self._calibrator = None

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        if not isinstance(pool, self._trt.MemoryPoolType):
            raise TypeError(f"set_memory_pool_limit: pool must be a MemoryPoolType, got {pool!r}")
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"set_memory_pool_limit: size must be an int, got {type(size)}")
        self.pool_limits[pool] = size

    def set_flag(self, flag: Any) -> None:
        if not isinstance(flag, self._trt.BuilderFlag):
            raise TypeError(f"set_flag takes a BuilderFlag, got {flag!r}")
        self.flags.add(flag)

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        assert isinstance(profile, FakeProfile)
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile: FakeProfile) -> bool:
        assert isinstance(profile, FakeProfile)
        self.calibration_profile = profile
        return True

    @property
    def int8_calibrator(self):
        return self._calibrator

    @int8_calibrator.setter
    def int8_calibrator(self, calibrator: Any) -> None:
        if not isinstance(calibrator, self._trt.IInt8Calibrator):
            raise TypeError("int8_calibrator must be an IInt8Calibrator")
        self._calibrator = calibrator


class FakeBuilder:
    def __init__(self, logger: FakeLogger, trt: FakeTensorRT) -> None:
        assert isinstance(logger, FakeLogger)
        self._trt = trt
        trt.builders.append(self)
        self.network: Optional[FakeNetwork] = None
        self.config: Optional[FakeConfig] = None

    def create_network(self, flags: int = 0) -> FakeNetwork:
        if not isinstance(flags, int):
            raise TypeError("create_network takes int flags")
        self._trt.calls.append(("create_network", flags))
        self.network = FakeNetwork(flags)
        return self.network

    def create_builder_config(self) -> FakeConfig:
        self.config = FakeConfig(self._trt)
        return self.config

    def create_optimization_profile(self) -> FakeProfile:
        return FakeProfile()

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig):
        if not (isinstance(network, FakeNetwork) and isinstance(config, FakeConfig)):
            raise TypeError("build_serialized_network(network, config)")
        self._trt.calls.append(("build_serialized_network",))
        if self._trt.fail_build:
            return None
        inp = network.inputs[0]
        if inp.shape[0] == -1 and not config.profiles:
            return None  # the real builder errors out: dynamic input without a profile
        cal = config.int8_calibrator
        if self._trt.BuilderFlag.INT8 in config.flags and cal is not None:
            # The real builder drains the calibrator (unless it has a cache) before timing kernels.
            if cal.read_calibration_cache() is None:
                while cal.get_batch([inp.name]) is not None:
                    self._trt.calibration_batches += 1
                cal.write_calibration_cache(b"fake-calibration-table")
        plan = {"inputs": [[t.name, list(t.shape)] for t in network.inputs],
                "outputs": [[t.name, list(t.shape)] for t in network.outputs]}
        return memoryview(json.dumps(plan).encode())  # the real one returns an IHostMemory


class FakeEngine:
    def __init__(self, plan: dict, trt: FakeTensorRT) -> None:
        self._trt = trt
        self._io = [(n, tuple(s), trt.TensorIOMode.INPUT) for n, s in plan["inputs"]]
        self._io += [(n, tuple(s), trt.TensorIOMode.OUTPUT) for n, s in plan["outputs"]]

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    def get_tensor_name(self, i: int) -> str:
        return self._io[i][0]

    def _find(self, name: str):
        return next(t for t in self._io if t[0] == name)

    def get_tensor_mode(self, name: str):
        return self._find(name)[2]

    def get_tensor_shape(self, name: str) -> tuple:
        return self._find(name)[1]

    def get_tensor_dtype(self, name: str):
        return self._trt.float32

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self, self._trt)


class FakeContext:
    def __init__(self, engine: FakeEngine, trt: FakeTensorRT) -> None:
        self._engine = engine
        self._trt = trt
        self.addresses: dict[str, int] = {}
        self.input_shapes: dict[str, tuple] = {}
        self.executions: list[int] = []  # batch size of each call

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        if not isinstance(ptr, int):
            raise TypeError("set_tensor_address takes an int device pointer")
        self._engine._find(name)
        self.addresses[name] = ptr
        return True

    def set_input_shape(self, name: str, shape: tuple) -> bool:
        assert self._engine.get_tensor_mode(name) == self._trt.TensorIOMode.INPUT
        self.input_shapes[name] = tuple(shape)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        if not isinstance(stream_handle, int):
            raise TypeError("execute_async_v3 takes the stream handle as an int")
        (name_in, shape_in, _), (name_out, shape_out, _) = self._engine._io
        shape_in = self.input_shapes.get(name_in) if shape_in[0] == -1 else shape_in
        if shape_in is None or name_in not in self.addresses or name_out not in self.addresses:
            return False
        n = shape_in[0]
        mem = self._trt.memory
        x = mem.view(self.addresses[name_in], np.float32)[: int(np.prod(shape_in))]
        x = x.reshape(shape_in)
        per = int(np.prod(shape_out[1:]))
        out = mem.view(self.addresses[name_out], np.float32)[: n * per].reshape(n, per)
        out[:] = x.reshape(n, -1).mean(axis=1, keepdims=True)
        self.executions.append(n)
        return True


class FakeRuntime:
    def __init__(self, logger: FakeLogger, trt: FakeTensorRT) -> None:
        assert isinstance(logger, FakeLogger)
        self._trt = trt

    def deserialize_cuda_engine(self, plan: bytes) -> Optional[FakeEngine]:
        if not isinstance(plan, (bytes, bytearray, memoryview)):
            raise TypeError("deserialize_cuda_engine takes bytes")
        self._trt.calls.append(("deserialize_cuda_engine",))
        try:
            return FakeEngine(json.loads(bytes(plan)), self._trt)
        except ValueError:
            return None  # the real runtime logs an error and returns None


class FakeDeviceMemory:
    """Host numpy bytes standing in for GPU memory, addressed by fake integer pointers."""

    def __init__(self) -> None:
        self._blocks: dict[int, np.ndarray] = {}
        self._next = 0x7F0000000000

    def alloc(self, nbytes: int) -> int:
        ptr = self._next
        self._next += (int(nbytes) + 255) // 256 * 256 + 256
        self._blocks[ptr] = np.zeros(int(nbytes), np.uint8)
        return ptr

    def free(self, ptr: int) -> None:
        del self._blocks[ptr]

    def view(self, ptr: int, dtype) -> np.ndarray:
        return self._blocks[ptr].view(dtype)

    @property
    def live(self) -> int:
        return len(self._blocks)


class FakeAllocation:
    def __init__(self, memory: FakeDeviceMemory, nbytes: int) -> None:
        self._memory = memory
        self.nbytes = nbytes
        self.ptr = memory.alloc(nbytes)

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        self._memory.free(self.ptr)


def make_fakes(version: str = "10.3.0") -> tuple[Any, Any]:
    """A fresh (trt, cuda) pair of fake modules sharing one fake device memory."""
    memory = FakeDeviceMemory()

    trt = FakeTensorRT()
    trt.__version__ = version
    trt.calls = []
    trt.builders = []
    trt.fail_build = False
    trt.calibration_batches = 0
    trt.memory = memory
    trt.Logger = FakeLogger
    trt.MemoryPoolType = enum.Enum("MemoryPoolType", "WORKSPACE DLA_MANAGED_SRAM")
    trt.BuilderFlag = enum.Enum("BuilderFlag", "FP16 INT8 TF32 STRICT_TYPES")
    trt.TensorIOMode = enum.Enum("TensorIOMode", "NONE INPUT OUTPUT")
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag",
                                                     "EXPLICIT_BATCH STRONGLY_TYPED", start=0)
    trt.float32 = "DataType.FLOAT"
    trt.Builder = lambda logger: FakeBuilder(logger, trt)
    trt.OnnxParser = lambda network, logger: FakeParser(network, logger, trt)
    trt.Runtime = lambda logger: FakeRuntime(logger, trt)

    class IInt8Calibrator:
        pass

    class IInt8EntropyCalibrator2(IInt8Calibrator):
        def __init__(self) -> None:
            self.base_initialised = True

    trt.IInt8Calibrator = IInt8Calibrator
    trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2

    cuda = types.SimpleNamespace()
    cuda.memory = memory
    cuda.copies = []  # ("htod"|"dtoh", nbytes)
    cuda.mem_alloc = lambda nbytes: FakeAllocation(memory, nbytes)
    cuda.pagelocked_empty = lambda shape, dtype: np.empty(shape, dtype)

    def _htod(dev: FakeAllocation, host: np.ndarray, stream: Any = None) -> None:
        src = np.ascontiguousarray(host).view(np.uint8).reshape(-1)
        assert src.nbytes <= dev.nbytes, "host buffer larger than the device allocation"
        memory.view(int(dev), np.uint8)[: src.nbytes] = src
        cuda.copies.append(("htod", src.nbytes))

    def _dtoh(host: np.ndarray, dev: FakeAllocation, stream: Any = None) -> None:
        flat = host.reshape(-1).view(np.uint8)  # must be a view: it writes into the caller's array
        assert flat.nbytes <= dev.nbytes
        flat[:] = memory.view(int(dev), np.uint8)[: flat.nbytes]
        cuda.copies.append(("dtoh", flat.nbytes))

    cuda.memcpy_htod = _htod
    cuda.memcpy_htod_async = _htod
    cuda.memcpy_dtoh_async = _dtoh

    class Stream:
        handle = 0x5EED

        def synchronize(self) -> None:
            pass

    cuda.Stream = Stream
    # No Device/Context: the backend skips context handling when the module has no Device.
    return trt, cuda
