"""A rate-1/2 convolutional code (K=7, generators 171/133 octal, the one in 802.11 and DVB) with a
soft-decision Viterbi decoder: numpy only, a few milliseconds for a 64-bit payload."""

from __future__ import annotations

import numpy as np

CONSTRAINT = 7
GENERATORS = (0o171, 0o133)
STATES = 1 << (CONSTRAINT - 1)
TAIL = CONSTRAINT - 1


def _parity(value: int) -> int:
    return bin(value).count("1") & 1


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """For each (state, input bit): the next state and the two output bits as ±1."""
    next_state = np.zeros((STATES, 2), dtype=np.int64)
    outputs = np.zeros((STATES, 2, 2), dtype=np.float64)
    for state in range(STATES):
        for bit in (0, 1):
            register = (bit << (CONSTRAINT - 1)) | state
            next_state[state, bit] = register >> 1
            for k, generator in enumerate(GENERATORS):
                outputs[state, bit, k] = 1.0 if _parity(register & generator) else -1.0
    return next_state, outputs


NEXT_STATE, OUTPUTS = _tables()


def coded_length(bits: int) -> int:
    return 2 * (bits + TAIL)


def encode(bits: np.ndarray) -> np.ndarray:
    """0/1 bits -> ±1 coded symbols (terminated: the encoder ends in state 0)."""
    state, symbols = 0, []
    for bit in [*bits.astype(int).tolist(), *([0] * TAIL)]:
        symbols.extend(OUTPUTS[state, bit])
        state = int(NEXT_STATE[state, bit])
    return np.asarray(symbols, dtype=np.float64)


def decode(soft: np.ndarray, bits: int) -> np.ndarray:
    """Soft symbols (positive = +1 more likely) -> the most likely 0/1 message of `bits` bits."""
    steps = bits + TAIL
    pairs = soft[: 2 * steps].reshape(steps, 2)
    metric = np.full(STATES, -np.inf)
    metric[0] = 0.0
    back_state = np.zeros((steps, STATES), dtype=np.int64)
    back_bit = np.zeros((steps, STATES), dtype=np.int64)
    sources = np.arange(STATES)
    for t in range(steps):
        gains = metric[:, None] + OUTPUTS @ pairs[t]  # (state, bit)
        candidates = np.full(STATES, -np.inf)
        for bit in (0, 1):
            targets = NEXT_STATE[:, bit]
            # Each target state has exactly two predecessors per input bit value (one per bit of the
            # dropped register cell); a stable sort keeps the better one last, which wins below.
            order = np.argsort(gains[:, bit], kind="stable")
            better = gains[order, bit] > candidates[targets[order]]
            chosen = order[better]
            candidates[targets[chosen]] = gains[chosen, bit]
            back_state[t, targets[chosen]] = sources[chosen]
            back_bit[t, targets[chosen]] = bit
        metric = candidates
    state, decoded = 0, np.zeros(steps, dtype=np.int64)
    for t in range(steps - 1, -1, -1):
        decoded[t] = back_bit[t, state]
        state = int(back_state[t, state])
    return decoded[:bits]
