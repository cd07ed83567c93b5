"""Uformer: a U-shaped transformer of locally-enhanced window (LeWin) blocks.

Wang, Cun, Bao, Zhou, Liu, Li, "Uformer: A General U-Shaped Transformer for Image Restoration",
CVPR 2022 (arXiv:2106.03106).  Written from the published architecture; module and parameter
names follow the public implementations (github.com/ZhendongWang6/Uformer and the Flare7K copy,
github.com/ykdai/Flare7K ``basicsr/archs/uformer_arch.py``) so that their checkpoints load
strictly -- the encoder's down-sampling modules keep that code's spelling ``dowsample_<k>``.

Architecture (embedding width ``C``, window ``M`` = 8, 4 down-samplings)::

    input_proj      conv3x3(in_ch -> C) + LeakyReLU(0.01)
    encoderlayer_k  depths[k] LeWin blocks at width C*2^k, then
    dowsample_k     conv4x4 stride 2 (C*2^k -> C*2^(k+1))                         k = 0..3
    conv            bottleneck: depths[4] LeWin blocks at width 16C
    upsample_j      transposed conv2x2 stride 2, then concat with the encoder skip
    decoderlayer_j  depths[5+j] LeWin blocks at width 16C/2^j                      j = 0..3
    output_proj     conv3x3(2C -> out_ch), then the final activation / residual

A LeWin block (pre-norm, ``shift = M/2`` on every odd block)::

    x = x + DropPath(W-MSA(LN(x)))        # window attention, cyclic shift on odd blocks
    x = x + DropPath(FFN(LN(x)))          # Linear(C -> 4C), GELU, Linear(4C -> C)

    W-MSA: softmax(Q K^T / sqrt(d) + B + S) V with the relative-position bias
    B[i, j] = table[index(i, j)] (a (2M-1)^2 x heads table, Swin's indexing) and the shift mask
    S = -100 between tokens that came from different image regions before the cyclic roll.

Faithful details: a level whose training resolution ``img_size / 2^k`` is not larger than the
window uses that resolution as its window and no shift (so ``img_size`` shapes the network but
does not restrict the input); the stochastic-depth rates rise linearly over the encoder blocks,
stay at the maximum in the bottleneck and fall mirrored through the decoder.

Any ``H x W`` works: the input is reflect-padded to a multiple of ``window * 2^4`` (128 for
``M`` = 8, the attribute ``pad_multiple``) and the output cropped back.  Reflect, not zero
padding: a constant image is then restored exactly as the same constant extended past its border
(``tests/models/test_tiling.py``), where zeros would pull the bottom and right edges down.  Attention runs through
:func:`torch.nn.functional.scaled_dot_product_attention` with ``B + S`` as an additive mask
(``fused_attention=True``) or as the explicit ``softmax(QK^T*scale + B + S) V`` (``False``);
both give the same outputs and gradients (``tests/models/test_uformer.py``).  On CPU the fused
kernel only serves inference: while the bias needs a gradient (training) PyTorch's CPU flash
kernel does not apply and the explicit formula is used (``benchmarks/RESULTS-models.md``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.errors import ConfigError, InputError
from zoo.specs import describe

from .padding import crop_to, pad_to_multiple

#: Additive mask value between tokens of different regions in a shifted window (from the
#: reference implementations; a finite value, not -inf).
SHIFT_MASK_VALUE = -100.0


def relative_position_index(win: int) -> torch.Tensor:
    """Swin's (win^2, win^2) index into the ((2 win - 1)^2, heads) relative-position bias table.

    For tokens i = (yi, xi) and j = (yj, xj):
    ``(yi - yj + win - 1) * (2 win - 1) + xi - xj + win - 1``.
    """
    ys, xs = torch.meshgrid(torch.arange(win), torch.arange(win), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # 2, N
    rel = coords[:, :, None] - coords[:, None, :] + (win - 1)  # 2, N, N
    return rel[0] * (2 * win - 1) + rel[1]


def window_partition(x: torch.Tensor, win: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, nW, win*win, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // win, win, w // win, win, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // win) * (w // win), win * win, c)


def window_reverse(windows: torch.Tensor, win: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, nW, win*win, C) -> (B, H, W, C)."""
    b, _, _, c = windows.shape
    x = windows.view(b, h // win, w // win, win, win, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def shift_attention_mask(h: int, w: int, win: int, shift: int,
                         device: torch.device | None = None) -> torch.Tensor:
    """(nW, N, N) additive mask of a cyclically shifted window layout (0 or ``-100``).

    The padded image is cut into 3 x 3 regions by the slices ``[0, -win)``, ``[-win, -shift)``,
    ``[-shift, end)`` along each axis; after the roll, tokens of one window that come from
    different regions must not attend to each other.
    """
    def labels(n: int) -> torch.Tensor:
        lab = torch.zeros(n, device=device)
        lab[n - win:n - shift] = 1
        lab[n - shift:] = 2
        return lab

    region = (labels(h)[:, None] * 3 + labels(w)[None, :])[None, :, :, None]  # 1, H, W, 1
    region = window_partition(region, win)[0, :, :, 0]  # nW, N
    differs = region[:, None, :] != region[:, :, None]
    return torch.zeros(differs.shape, device=device).masked_fill_(differs, SHIFT_MASK_VALUE)


class LinearProjection(nn.Module):
    """Query from ``to_q``, key and value from one ``to_kv`` linear layer (Uformer "linear")."""

    def __init__(self, dim: int, heads: int, bias: bool = True):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=bias)

    def forward(self, x: torch.Tensor):
        """x: (B, nW, N, C) -> q, k, v each (B, nW, heads, N, C/heads)."""
        *lead, n, c = x.shape
        d = c // self.heads
        q = self.to_q(x).view(*lead, n, self.heads, d).transpose(-3, -2)
        kv = self.to_kv(x).view(*lead, n, 2, self.heads, d)
        k = kv[..., 0, :, :].transpose(-3, -2)
        v = kv[..., 1, :, :].transpose(-3, -2)
        return q, k, v


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative-position bias."""

    #: Use SDPA even when training on CPU (where it runs its math kernel); tests and benchmarks.
    sdpa_in_cpu_training = False
    relative_position_index: torch.Tensor  # a buffer

    def __init__(self, dim: int, win: int, heads: int, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0, proj_drop: float = 0.0,
                 fused: bool = True):
        super().__init__()
        if dim % heads:
            raise ConfigError(f"uformer: width {dim} is not divisible by {heads} heads")
        self.dim, self.win, self.heads = dim, win, heads
        self.scale = qk_scale or (dim // heads) ** -0.5
        self.fused = fused
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * win - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(win))
        self.qkv = LinearProjection(dim, heads, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def position_bias(self) -> torch.Tensor:
        """(heads, N, N) bias gathered from the table."""
        n = self.win * self.win
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return bias.view(n, n, self.heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, nW, N, C); mask: (nW, N, N) additive or None."""
        b, nw, n, c = x.shape
        q, k, v = (t.flatten(0, 1) for t in self.qkv(x))  # (B*nW, heads, N, d)
        bias = self.position_bias()[None]  # 1, heads, N, N
        if mask is not None:  # (B*nW, heads, N, N); a copy only when B > 1
            bias = (bias + mask[:, None]).expand(b, -1, -1, -1, -1).reshape(b * nw, *bias.shape[1:])
        drop = self.attn_drop if self.training else 0.0
        # On CPU, SDPA's flash kernel takes 4-D tensors and an additive mask but no mask that
        # needs a gradient: in training it falls back to its math kernel, measured slower than
        # the explicit formula below (benchmarks/RESULTS-models.md), so that case uses the latter.
        cpu_training = (q.device.type == "cpu" and bias.requires_grad
                        and torch.is_grad_enabled() and not self.sdpa_in_cpu_training)
        if self.fused and not cpu_training:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                                 dropout_p=drop, scale=self.scale)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1) + bias
            attn = attn.softmax(dim=-1)
            if drop:
                attn = F.dropout(attn, drop)
            out = attn @ v
        out = out.view(b, nw, self.heads, n, c // self.heads).transpose(-3, -2).reshape(b, nw, n, c)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    """Token-wise feed-forward network: Linear, GELU, Linear (Uformer ``token_mlp="ffn"``)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., ECCV 2016): drop a residual branch per sample.

    Thin wrapper over :func:`timm.layers.drop_path` that has no parameters.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from timm.layers import drop_path

        return drop_path(x, self.p, self.training)


class LeWinBlock(nn.Module):
    """Pre-norm window attention + FFN with residuals; ``shift > 0`` rolls the windows."""

    def __init__(self, dim: int, heads: int, win: int, shift: int, mlp_ratio: float,
                 qkv_bias: bool, qk_scale: float | None, drop: float, attn_drop: float,
                 drop_path: float, fused: bool):
        super().__init__()
        self.win, self.shift = win, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, win, heads, qkv_bias, qk_scale, attn_drop, drop, fused)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B, H, W, C); mask: the shift mask of this layout (used when ``shift > 0``)."""
        b, h, w, c = x.shape
        y = self.norm1(x)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.win), mask if self.shift else None)
        y = window_reverse(y, self.win, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class UformerLayer(nn.Module):
    """``depth`` LeWin blocks at one resolution; odd blocks shift by ``win // 2`` if allowed."""

    def __init__(self, dim: int, depth: int, heads: int, win: int, allow_shift: bool,
                 drop_path: Sequence[float], **block_kw):
        super().__init__()
        self.win = win
        self.shift = win // 2 if allow_shift else 0
        self.blocks = nn.ModuleList(
            LeWinBlock(dim, heads, win, self.shift if i % 2 else 0, drop_path=drop_path[i],
                       **block_kw)
            for i in range(depth))

    def forward(self, x: torch.Tensor, masks: dict) -> torch.Tensor:
        mask = None
        if self.shift and len(self.blocks) > 1:
            key = (x.shape[1], x.shape[2], self.win, self.shift)
            if key not in masks:
                masks[key] = shift_attention_mask(*key, device=x.device).to(x.dtype)
            mask = masks[key]
        for blk in self.blocks:
            x = blk(x, mask)
        return x


class _Conv2dTokens(nn.Module):
    """Apply ``self.<attr>`` (a conv Sequential) to (B, H, W, C) tokens."""

    def _apply_conv(self, seq: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return seq(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class Downsample(_Conv2dTokens):
    """Conv 4x4, stride 2, padding 1: halves H and W."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1))

    def forward(self, x):
        return self._apply_conv(self.conv, x)


class Upsample(_Conv2dTokens):
    """Transposed conv 2x2, stride 2: doubles H and W."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.deconv = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2))

    def forward(self, x):
        return self._apply_conv(self.deconv, x)


class InputProj(nn.Module):
    """Conv 3x3 + LeakyReLU(0.01), image (B, C, H, W) -> tokens (B, H, W, embed)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(inplace=True))

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)


class OutputProj(nn.Module):
    """Conv 3x3, tokens (B, H, W, C) -> image (B, out_ch, H, W)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1))

    def forward(self, x):
        return self.proj(x.permute(0, 3, 1, 2))


_ACTIVATIONS = {None: nn.Identity, "none": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


@describe(citation="Wang, Cun, Bao, Zhou, Liu, Li, 'Uformer: A General U-Shaped Transformer for "
                   "Image Restoration', CVPR 2022; Flare7K preset: Dai et al., 'Flare7K', "
                   "NeurIPS 2022",
          test="tests/models/test_uformer.py::test_fixture_output_matches_reference")
class Uformer(nn.Module):
    """Uformer image-restoration network (Wang et al., CVPR 2022); any input size.

    Args:
        in_ch, out_ch: image channels in and out (Flare7K: 3 -> 6, image + flare).
        embed_dim: width C of the first level (T: 16, S/B: 32).
        depths: LeWin blocks per level, 4 encoder + bottleneck + 4 decoder (9 numbers).
        num_heads: attention heads per level (9 numbers).
        win_size: attention window M.
        mlp_ratio: FFN hidden width / width.
        qkv_bias, qk_scale: bias of the q/kv projections; scale (default ``head_dim**-0.5``).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        img_size: training resolution; only decides which levels keep shifted windows (a level
            of training size <= ``win_size`` uses it as window, unshifted).  Inputs of any size
            are accepted.
        token_projection, token_mlp: only ``"linear"`` and ``"ffn"`` (the released configs).
        residual: add the input to the output (original Uformer; needs ``in_ch == out_ch``).
        final_activation: ``None``, ``"sigmoid"`` (Flare7K) or ``"tanh"``.
        output_split: channel ranges of the output parts, e.g. ``{"image": (0, 3), ...}``.
        fused_attention: use ``scaled_dot_product_attention`` (True) or explicit softmax.
        pad_mode: how inputs are padded to a multiple of ``win_size * 16``.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, embed_dim: int = 32,
                 depths: Sequence[int] = (2, 2, 2, 2, 2, 2, 2, 2, 2),
                 num_heads: Sequence[int] = (1, 2, 4, 8, 16, 16, 8, 4, 2),
                 win_size: int = 8, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: float | None = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1, img_size: int = 256,
                 token_projection: str = "linear", token_mlp: str = "ffn",
                 residual: bool = True, final_activation: str | None = None,
                 output_split: dict | None = None, fused_attention: bool = True,
                 pad_mode: str = "reflect"):
        super().__init__()
        depths, num_heads = list(depths), list(num_heads)
        if len(depths) != 9 or len(num_heads) != 9:
            raise ConfigError("uformer: depths and num_heads need 9 numbers each "
                              "(4 encoder levels, bottleneck, 4 decoder levels)")
        if token_projection != "linear" or token_mlp != "ffn":
            raise ConfigError("uformer: only token_projection='linear' and token_mlp='ffn' are "
                              f"implemented, got {token_projection!r}/{token_mlp!r}")
        if final_activation not in _ACTIVATIONS:
            raise ConfigError(f"uformer: final_activation must be one of "
                              f"{', '.join(map(str, _ACTIVATIONS))}, got {final_activation!r}")
        if residual and in_ch != out_ch:
            raise ConfigError(f"uformer: residual=True needs in_ch == out_ch "
                              f"(got {in_ch} -> {out_ch})")
        if img_size < 16:
            raise ConfigError(f"uformer: img_size must be at least 16, got {img_size}")
        self.in_ch, self.out_ch, self.embed_dim = in_ch, out_ch, embed_dim
        self.img_size, self.win_size = img_size, win_size
        self.residual, self.pad_mode = residual, pad_mode
        self.output_split = dict(output_split) if output_split else {}

        enc_dpr = torch.linspace(0, drop_path_rate, sum(depths[:4])).tolist()
        dec_dpr = enc_dpr[::-1]
        block_kw = dict(mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, qk_scale=qk_scale,
                        drop=drop_rate, attn_drop=attn_drop_rate, fused=fused_attention)

        def layer(level: int, dim: int, i: int, dpr: Sequence[float]) -> UformerLayer:
            res = img_size // 2 ** level
            win, shift = (res, False) if res <= win_size else (win_size, True)
            return UformerLayer(dim, depths[i], num_heads[i], win, shift, dpr, **block_kw)

        self.input_proj = InputProj(in_ch, embed_dim)
        self.output_proj = OutputProj(2 * embed_dim, out_ch)
        self.pos_drop = nn.Dropout(drop_rate)
        for k in range(4):
            dim = embed_dim * 2 ** k
            dpr = enc_dpr[sum(depths[:k]):sum(depths[:k + 1])]
            setattr(self, f"encoderlayer_{k}", layer(k, dim, k, dpr))
            setattr(self, f"dowsample_{k}", Downsample(dim, dim * 2))
        self.conv = layer(4, embed_dim * 16, 4, [drop_path_rate] * depths[4])
        for j in range(4):
            level = 3 - j
            cin = embed_dim * 16 if j == 0 else embed_dim * 2 ** (level + 2)
            setattr(self, f"upsample_{j}", Upsample(cin, embed_dim * 2 ** level))
            dpr = dec_dpr[sum(depths[5:5 + j]):sum(depths[5:6 + j])]
            setattr(self, f"decoderlayer_{j}", layer(level, embed_dim * 2 ** (level + 1), 5 + j,
                                                     dpr))
        self.activation = _ACTIVATIONS[final_activation]()
        self.apply(self._init_weights)
        self.pad_multiple = math.lcm(*(getattr(self, n).win * 2 ** lvl for n, lvl in
                                       self._layers_with_levels()))

    def _layers_with_levels(self):
        yield from ((f"encoderlayer_{k}", k) for k in range(4))
        yield "conv", 4
        yield from ((f"decoderlayer_{j}", 3 - j) for j in range(4))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, WindowAttention):
            nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)

    def set_fused_attention(self, fused: bool) -> "Uformer":
        """Switch every attention between the fused SDPA path and the explicit softmax."""
        for m in self.modules():
            if isinstance(m, WindowAttention):
                m.fused = fused
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_ch:
            raise InputError(f"uformer: expected (B, {self.in_ch}, H, W) images, got "
                             f"{tuple(x.shape)}")
        xp, size = pad_to_multiple(x, self.pad_multiple, self.pad_mode)
        masks: dict = {}
        y = self.pos_drop(self.input_proj(xp))
        skips = []
        for k in range(4):
            y = getattr(self, f"encoderlayer_{k}")(y, masks)
            skips.append(y)
            y = getattr(self, f"dowsample_{k}")(y)
        y = self.conv(y, masks)
        for j in range(4):
            y = torch.cat([getattr(self, f"upsample_{j}")(y), skips[3 - j]], dim=-1)
            y = getattr(self, f"decoderlayer_{j}")(y, masks)
        y = self.activation(self.output_proj(y))
        if self.residual:
            y = y + xp
        return crop_to(y, size)


def uformer(**kwargs) -> Uformer:
    """Factory used by the registry: ``Uformer(**kwargs)``."""
    return Uformer(**kwargs)
