"""Barnes-Hut repulsive term (van der Maaten 2014, "Accelerating t-SNE using
tree-based algorithms").

The sources are put into a space-partitioning tree with ``2**d`` children per node
(binary tree, quadtree, octree for d = 1, 2, 3). Each node covers a contiguous range
of the sources sorted into tree order and stores its point count, centre of mass and
the tight bounding box of its points. For every target the tree is walked
depth-first with an explicit stack; a node whose largest bounding-box side ``s``
and distance ``r`` to its centre of mass satisfy ``s / r < theta`` (and which does not
contain the target) is summarised as ``count`` points at its centre of mass,
otherwise it is opened (a leaf is summed exactly).

Cells whose points all coincide (single points, duplicates) are exact when
summarised; the self-interaction (``same``) is removed there by discounting the
target itself, and in leaves by skipping its index. ``theta = 0`` thus opens every
cell that is not a single location and gives the exact sums.
"""

from __future__ import annotations

import numba
import numpy as np

from .._threads import in_row_blocks
from .kernel import kernel_weights

#: most points a leaf holds before it is split
LEAF_SIZE = 8
#: depth cap: near-duplicate points stay together in a (larger) leaf below it
MAX_DEPTH = 48


@numba.njit(nogil=True, cache=True)
def _grow_1d(a, new_len):
    """``a`` (int64) copied into a longer array. Plain loops: a slice assignment
    compiles numba's broadcasting checks and their error messages (~4 s of a first
    run's compilation for the two array kinds)."""
    out = np.empty(new_len, dtype=np.int64)
    for k in range(a.shape[0]):
        out[k] = a[k]
    return out


@numba.njit(nogil=True, cache=True)
def _grow_2d(a, new_len):
    """``a`` (float64, 2-D) copied into an array of more rows (see :func:`_grow_1d`)."""
    out = np.empty((new_len, a.shape[1]))
    for k in range(a.shape[0]):
        for c in range(a.shape[1]):
            out[k, c] = a[k, c]
    return out


@numba.njit(nogil=True, cache=True)
def build_tree(Y, leaf_size, max_depth):
    """Build the tree on ``Y`` (n, d), float64.

    Returns ``(Ys, perm, start, end, first_child, n_child, com, lo, hi)`` with
    ``Ys = Y[perm]`` the points in tree order; node ``k`` covers ``Ys[start[k]:end[k]]``,
    its children are nodes ``first_child[k] .. first_child[k] + n_child[k] - 1``
    (``n_child == 0``: leaf); node 0 is the root.
    """
    n, d = Y.shape
    n_orth = 1 << d
    perm = np.arange(n)
    cap = 2 * n // leaf_size + 64
    start = np.empty(cap, dtype=np.int64)
    end = np.empty(cap, dtype=np.int64)
    first_child = np.zeros(cap, dtype=np.int64)
    n_child = np.zeros(cap, dtype=np.int64)
    depth = np.zeros(cap, dtype=np.int64)
    com = np.zeros((cap, d))
    lo = np.zeros((cap, d))
    hi = np.zeros((cap, d))
    n_nodes = 1
    start[0] = 0
    end[0] = n
    depth[0] = 0

    codes = np.empty(n, dtype=np.int64)
    tmp = np.empty(n, dtype=np.int64)
    counts = np.empty(n_orth, dtype=np.int64)
    offs = np.empty(n_orth, dtype=np.int64)
    mid = np.empty(d)

    # nodes are created in breadth-first order, so processing them by index visits
    # every node exactly once after its parent (no stack needed)
    node = 0
    while node < n_nodes:
        s = start[node]
        e = end[node]
        # centre of mass and tight bounding box
        for c in range(d):
            lo[node, c] = np.inf
            hi[node, c] = -np.inf
            com[node, c] = 0.0
        for k in range(s, e):
            p = perm[k]
            for c in range(d):
                v = Y[p, c]
                com[node, c] += v
                if v < lo[node, c]:
                    lo[node, c] = v
                if v > hi[node, c]:
                    hi[node, c] = v
        cnt = e - s
        for c in range(d):
            com[node, c] /= cnt
        extent = 0.0
        for c in range(d):
            ext = hi[node, c] - lo[node, c]
            if ext > extent:
                extent = ext
        if cnt <= leaf_size or depth[node] >= max_depth or extent == 0.0:
            n_child[node] = 0
            node += 1
            continue
        # split at the centre of the bounding box into 2**d orthants
        for c in range(d):
            mid[c] = 0.5 * (lo[node, c] + hi[node, c])
        for o in range(n_orth):
            counts[o] = 0
        for k in range(s, e):
            p = perm[k]
            code = 0
            for c in range(d):
                if Y[p, c] > mid[c]:
                    code |= 1 << c
            codes[k] = code
            counts[code] += 1
        acc = s
        for o in range(n_orth):
            offs[o] = acc
            acc += counts[o]
        for k in range(s, e):
            code = codes[k]
            tmp[offs[code]] = perm[k]
            offs[code] += 1
        for k in range(s, e):
            perm[k] = tmp[k]
        # create the non-empty children contiguously
        n_new = 0
        for o in range(n_orth):
            if counts[o] > 0:
                n_new += 1
        if n_nodes + n_new > cap:
            cap = 2 * cap + n_new
            start = _grow_1d(start, cap)
            end = _grow_1d(end, cap)
            first_child = _grow_1d(first_child, cap)
            n_child = _grow_1d(n_child, cap)
            depth = _grow_1d(depth, cap)
            com = _grow_2d(com, cap)
            lo = _grow_2d(lo, cap)
            hi = _grow_2d(hi, cap)
        first_child[node] = n_nodes
        n_child[node] = n_new
        acc = s
        for o in range(n_orth):
            if counts[o] > 0:
                start[n_nodes] = acc
                end[n_nodes] = acc + counts[o]
                depth[n_nodes] = depth[node] + 1
                first_child[n_nodes] = 0
                n_child[n_nodes] = 0
                acc += counts[o]
                n_nodes += 1
        node += 1

    Ys = np.empty((n, d))
    for k in range(n):
        for c in range(d):
            Ys[k, c] = Y[perm[k], c]
    return (
        Ys,
        perm,
        start[:n_nodes].copy(),
        end[:n_nodes].copy(),
        first_child[:n_nodes].copy(),
        n_child[:n_nodes].copy(),
        com[:n_nodes].copy(),
        lo[:n_nodes].copy(),
        hi[:n_nodes].copy(),
    )


@numba.njit(nogil=True, cache=True)
def _max_depth(first_child, n_child):
    n_nodes = first_child.shape[0]
    depth = np.zeros(n_nodes, dtype=np.int64)
    best = 0
    for k in range(n_nodes):  # parents precede their children
        for ch in range(first_child[k], first_child[k] + n_child[k]):
            depth[ch] = depth[k] + 1
            if depth[ch] > best:
                best = depth[ch]
    return best


@numba.njit(nogil=True, cache=True)
def _pack_nodes(Ys, start, end, first_child, n_child, com, lo, hi, quad):
    """What the walk reads of each node, in two rows (one or two cache lines).

    ``nodes_f[k] = (centre of mass..., squared largest box side, point count)``, with
    ``quad`` followed by the upper triangle of the second moments about the centre of
    mass, ``M = sum_j (y_j - c)(y_j - c)^T`` (row by row: xx, xy, yy in 2-D);
    ``nodes_i[k] = (start, end, first child, number of children)``.

    The moments are gathered bottom-up (children follow their parents, so a reverse
    pass sees every child first): a leaf sums its points, an inner node its children's
    moments moved to its own centre (parallel axis theorem), O(nodes + points).
    """
    n_nodes, d = com.shape
    n_mom = d * (d + 1) // 2 if quad else 0
    nodes_f = np.zeros((n_nodes, d + 2 + n_mom))
    nodes_i = np.empty((n_nodes, 4), dtype=np.int64)
    for k in range(n_nodes):
        extent = 0.0
        for c in range(d):
            nodes_f[k, c] = com[k, c]
            ext = hi[k, c] - lo[k, c]
            if ext > extent:
                extent = ext
        nodes_f[k, d] = extent * extent
        nodes_f[k, d + 1] = end[k] - start[k]
        nodes_i[k, 0] = start[k]
        nodes_i[k, 1] = end[k]
        nodes_i[k, 2] = first_child[k]
        nodes_i[k, 3] = n_child[k]
    if quad:
        for k in range(n_nodes - 1, -1, -1):
            if n_child[k] == 0:
                for p in range(start[k], end[k]):
                    m = d + 2
                    for a in range(d):
                        da = Ys[p, a] - com[k, a]
                        for b in range(a, d):
                            nodes_f[k, m] += da * (Ys[p, b] - com[k, b])
                            m += 1
            else:
                for ch in range(first_child[k], first_child[k] + n_child[k]):
                    cnt = end[ch] - start[ch]
                    m = d + 2
                    for a in range(d):
                        da = com[ch, a] - com[k, a]
                        for b in range(a, d):
                            db = com[ch, b] - com[k, b]
                            nodes_f[k, m] += nodes_f[ch, m] + cnt * da * db
                            m += 1
    return nodes_f, nodes_i


@numba.njit(nogil=True, cache=True, inline="always")
def _inside(y, lo, hi, node):
    for c in range(y.shape[0]):
        if y[c] < lo[node, c] or y[c] > hi[node, c]:
            return False
    return True


@numba.njit(nogil=True, cache=True, fastmath=True)
def _bh_forces(
    Ys, perm, nodes_f, nodes_i, lo, hi, Y_tgt, order, dof, same, theta, stack_size,
    forces, sum_w, start, stop,
):  # fmt: skip
    """The walk (see the module docstring) for the targets ``order[start:stop]``; with
    second moments in ``nodes_f`` (``dof == 1``) summarised cells add their
    quadrupole terms."""
    d = Y_tgt.shape[1]
    theta2 = theta * theta
    unit_dof = dof == 1.0
    quad = nodes_f.shape[1] > d + 2
    # A target inside a cell's box is at most sqrt(d) box sides from its centre of
    # mass, so for theta <= 1 / sqrt(d) the criterion never summarises such a cell and
    # the box test can be skipped; larger theta needs it.
    check_inside = theta2 * d > 1.0
    stack = np.empty(stack_size, dtype=np.int64)
    yi = np.empty(d)
    acc = np.empty(d)
    mr = np.empty(d)
    for t in range(start, stop):
        i = order[t]
        for c in range(d):
            yi[c] = Y_tgt[i, c]
            acc[c] = 0.0
        s_w = 0.0
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            d2 = 0.0
            for c in range(d):
                diff = yi[c] - nodes_f[node, c]
                d2 += diff * diff
            ext2 = nodes_f[node, d]
            if ext2 == 0.0:
                # all points of the cell at one location: exact
                wcnt = nodes_f[node, d + 1]
                if same and _inside(yi, lo, hi, node):
                    # the target itself is one of them (tested on the box, which
                    # holds the points' own values; the mean may be rounded)
                    wcnt -= 1.0
                if wcnt == 0.0:
                    continue
            elif ext2 < theta2 * d2 and not (check_inside and _inside(yi, lo, hi, node)):
                wcnt = nodes_f[node, d + 1]
            elif nodes_i[node, 3] > 0:
                f = nodes_i[node, 2]
                for k in range(f, f + nodes_i[node, 3]):
                    stack[top] = k
                    top += 1
                continue
            else:
                # leaf: sum its points exactly (same: the targets are walked in
                # tree order, so the target itself sits at position t)
                for k in range(nodes_i[node, 0], nodes_i[node, 1]):
                    if same and k == t:
                        continue
                    q2 = 0.0
                    for c in range(d):
                        diff = yi[c] - Ys[k, c]
                        q2 += diff * diff
                    w, w2 = kernel_weights(q2, dof, unit_dof)
                    s_w += w
                    for c in range(d):
                        acc[c] += w2 * (yi[c] - Ys[k, c])
                continue
            # summarised cell: wcnt points at the centre of mass
            w, w2 = kernel_weights(d2, dof, unit_dof)
            if quad and ext2 > 0.0:
                # + the second-order (quadrupole) terms of the Taylor expansion
                # of the cell's sums about its centre of mass (dof = 1)
                tr = 0.0
                rmr = 0.0
                m = d + 2
                for a in range(d):
                    mr[a] = 0.0
                for a in range(d):
                    ra = yi[a] - nodes_f[node, a]
                    for b in range(a, d):
                        mab = nodes_f[node, m]
                        m += 1
                        rb = yi[b] - nodes_f[node, b]
                        if a == b:
                            tr += mab
                            rmr += mab * ra * ra
                            mr[a] += mab * ra
                        else:
                            rmr += 2.0 * mab * ra * rb
                            mr[a] += mab * rb
                            mr[b] += mab * ra
                w3 = w2 * w
                s_w += wcnt * w - w2 * tr + 4.0 * w3 * rmr
                coef = wcnt * w2 + 12.0 * w3 * w * rmr - 2.0 * w3 * tr
                for c in range(d):
                    acc[c] += coef * (yi[c] - nodes_f[node, c]) - 4.0 * w3 * mr[c]
                continue
            s_w += wcnt * w
            w2 *= wcnt
            for c in range(d):
                acc[c] += w2 * (yi[c] - nodes_f[node, c])
        sum_w[i] = s_w
        for c in range(d):
            forces[i, c] = acc[c]


@numba.njit(nogil=True, cache=True, fastmath=True)
def _bh_forces_2d_quad(
    Ys, nodes_f, nodes_i, lo, hi, Y_tgt, order, same, theta, stack_size,
    forces, sum_w, start, stop,
):  # fmt: skip
    """:func:`_bh_forces` for the common case (2-D, dof = 1, quadrupoles), with the
    sums in registers: ``nodes_f[k] = (cx, cy, side^2, count, Mxx, Mxy, Myy)``."""
    theta2 = theta * theta
    check_inside = theta2 * 2.0 > 1.0
    stack = np.empty(stack_size, dtype=np.int64)
    yi = np.empty(2)
    for t in range(start, stop):
        i = order[t]
        y0 = Y_tgt[i, 0]
        y1 = Y_tgt[i, 1]
        yi[0] = y0
        yi[1] = y1
        f0 = 0.0
        f1 = 0.0
        s_w = 0.0
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            r0 = y0 - nodes_f[node, 0]
            r1 = y1 - nodes_f[node, 1]
            d2 = r0 * r0 + r1 * r1
            ext2 = nodes_f[node, 2]
            if ext2 == 0.0:
                wcnt = nodes_f[node, 3]
                if same and _inside(yi, lo, hi, node):
                    wcnt -= 1.0
                if wcnt == 0.0:
                    continue
                w = 1.0 / (1.0 + d2)
                w2 = w * w * wcnt
                s_w += wcnt * w
                f0 += w2 * r0
                f1 += w2 * r1
            elif ext2 < theta2 * d2 and not (check_inside and _inside(yi, lo, hi, node)):
                wcnt = nodes_f[node, 3]
                mxx = nodes_f[node, 4]
                mxy = nodes_f[node, 5]
                myy = nodes_f[node, 6]
                w = 1.0 / (1.0 + d2)
                w2 = w * w
                w3 = w2 * w
                tr = mxx + myy
                m0 = mxx * r0 + mxy * r1
                m1 = mxy * r0 + myy * r1
                rmr = r0 * m0 + r1 * m1
                s_w += wcnt * w - w2 * tr + 4.0 * w3 * rmr
                coef = wcnt * w2 + 12.0 * w3 * w * rmr - 2.0 * w3 * tr
                f0 += coef * r0 - 4.0 * w3 * m0
                f1 += coef * r1 - 4.0 * w3 * m1
            elif nodes_i[node, 3] > 0:
                f = nodes_i[node, 2]
                for k in range(f, f + nodes_i[node, 3]):
                    stack[top] = k
                    top += 1
            else:
                for k in range(nodes_i[node, 0], nodes_i[node, 1]):
                    if same and k == t:
                        continue
                    a = y0 - Ys[k, 0]
                    b = y1 - Ys[k, 1]
                    w = 1.0 / (1.0 + a * a + b * b)
                    w2 = w * w
                    s_w += w
                    f0 += w2 * a
                    f1 += w2 * b
        sum_w[i] = s_w
        forces[i, 0] = f0
        forces[i, 1] = f1


def repulsive_bh(Y_src, Y_tgt, dof: float, same: bool, theta: float, quadrupole: bool = True):
    """Barnes-Hut repulsion (see the package docstring for the contract).

    ``forces[i] = sum_j w_ij^(1 + 1/dof) (y_i - y_j)``, ``sum_w[i] = sum_j w_ij`` over
    the sources ``j`` (``j != i`` when ``same``), approximated with opening angle
    ``theta`` (0: exact).
    """
    Y_src = np.ascontiguousarray(Y_src, dtype=np.float64)
    Y_tgt = Y_src if same else np.ascontiguousarray(Y_tgt, dtype=np.float64)
    if Y_src.ndim != 2 or Y_tgt.ndim != 2 or Y_src.shape[1] != Y_tgt.shape[1]:
        raise ValueError("Barnes-Hut needs 2-D source and target arrays with equal d.")
    n_t, d = Y_tgt.shape
    if not 1 <= d <= 3:
        raise ValueError("Barnes-Hut supports 1, 2 or 3 dimensions.")
    if n_t == 0 or Y_src.shape[0] == 0:
        return np.zeros((n_t, d)), np.zeros(n_t)
    Ys, perm, start, end, first_child, n_child, com, lo, hi = build_tree(
        Y_src, LEAF_SIZE, MAX_DEPTH
    )
    quad = bool(quadrupole) and float(dof) == 1.0
    nodes_f, nodes_i = _pack_nodes(Ys, start, end, first_child, n_child, com, lo, hi, quad)
    stack_size = (_max_depth(first_child, n_child) + 1) * (1 << d) + 1
    # same: walk the targets in tree order, so neighbouring targets share tree paths
    order = perm if same else np.arange(n_t)
    forces = np.zeros((n_t, d))
    sum_w = np.zeros(n_t)
    theta = max(float(theta), 0.0)
    if quad and d == 2:
        args = (Ys, nodes_f, nodes_i, lo, hi, Y_tgt, order, bool(same), theta, stack_size)
        in_row_blocks(_bh_forces_2d_quad, n_t, *args, forces, sum_w)
    else:
        args = (Ys, perm, nodes_f, nodes_i, lo, hi, Y_tgt, order, float(dof), bool(same),
                theta, stack_size)  # fmt: skip
        in_row_blocks(_bh_forces, n_t, *args, forces, sum_w)
    return forces, sum_w
