"""nftables from Python: the kernel's packet rules, through libnftables. Layer 4 (channels).

The kernel relay (`kernel_relay.py`) keeps its table with the same library the `nft`
command uses, loaded with ctypes. Why not a package: nftables' own Python binding
(`python3-nftables`) is a Debian package that is not on PyPI, so a virtual environment
cannot install it; the library's API is six C functions (a context, a command buffer, the
output and error buffers), and commands are the `nft` language itself.
Starting `nft` for each change would cost a process (~2 ms) per bridged call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

from dipflow.channels.errors import ChannelError

_SAFE_DESCRIPTORS = 1000
"""Below FD_SETSIZE (1024), with room for the two contexts' netlink sockets."""


class NftablesError(ChannelError):
    """libnftables is missing, or refused a command (the kernel's words in the message)."""


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("nftables") or "libnftables.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise NftablesError(f"libnftables is not installed ({exc}): apt install nftables") from exc
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    return lib


class Nftables:
    """One libnftables context: `run` takes `nft` commands (a whole ruleset file, or
    several lines, applied as one transaction: all or nothing)."""

    def __init__(self) -> None:
        # libnftables waits on its netlink socket with select(), which aborts the process
        # for a descriptor above 1023 (FD_SETSIZE): a context is made while descriptors
        # are few (the media worker makes it before any RTP socket), and never otherwise.
        probe = os.open(os.devnull, os.O_RDONLY)  # the number the next socket would get
        os.close(probe)
        if probe >= _SAFE_DESCRIPTORS:
            raise NftablesError(f"nftables: descriptor {probe} is past select()'s limit")
        self._lib = _library()
        self._changes = self._context()
        self._listings = self._context()
        # ctypes releases the GIL during a call, so a caller may list counters in a
        # thread while its loop changes elements: each context has its own lock (a
        # context is not safe for two threads), so a change never waits for a listing.
        self._locks = {self._changes: threading.Lock(), self._listings: threading.Lock()}

    def _context(self) -> int:
        ctx = self._lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT: numeric ports, no DNS
        if not ctx:
            raise NftablesError("libnftables: cannot create a context")
        self._lib.nft_ctx_buffer_output(ctx)
        self._lib.nft_ctx_buffer_error(ctx)
        return int(ctx)

    def run(self, commands: str) -> str:
        """Apply `commands`; their output. `NftablesError` with nft's message if refused
        (nothing of the batch is applied then)."""
        return self._run(self._changes, commands)

    def listing(self, command: str) -> str:
        """A list command's text, from a context of its own (for a thread: see above).
        Text, not libnftables' JSON: parsing a thousand elements' JSON makes thousands of
        objects for the collector, in the process that paces RTP."""
        return self._run(self._listings, command)

    def _run(self, ctx: int, commands: str) -> str:
        lib = self._lib
        with self._locks[ctx]:
            failed = lib.nft_run_cmd_from_buffer(ctx, commands.encode())
            output = lib.nft_ctx_get_output_buffer(ctx) or b""
            error = lib.nft_ctx_get_error_buffer(ctx) or b""
        if failed:
            message = error.decode(errors="replace").strip() or "refused"
            raise NftablesError(f"nftables: {message}")
        return output.decode(errors="replace")

    def close(self) -> None:
        for ctx in (self._changes, self._listings):
            if ctx:
                self._lib.nft_ctx_free(ctx)
        self._changes = self._listings = 0
