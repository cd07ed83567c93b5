"""Perceptual encoders: frozen networks mapping images in [0, 1] to lists of feature maps.

Contract (shared with the losses and the composer): an encoder is a frozen ``nn.Module`` (eval
mode, ``requires_grad=False``) taking ``(B, 3, H, W)`` images in [0, 1], normalising them itself,
and returning ``list[Tensor]``; its ``pretrained_source`` string says which weights are in use.

Modules: :mod:`.base` (the frozen base class), :mod:`.weights` (offline weight lookup),
:mod:`.vgg`, :mod:`.vit`, :mod:`.timm_encoder` (the encoders), :mod:`.sharing` (building encoders
by name, sharing one instance between losses).  Nothing here imports torch at package import
time, so ``zoo list`` stays fast.
"""
