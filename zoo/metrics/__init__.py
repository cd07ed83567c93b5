"""Image-quality metrics with a known direction (higher or lower is better).

``zoo.create_metric(name, **kw)`` returns a module called as ``metric(pred, gt, mask=None)``
giving one value per image: ``psnr``, ``ssim``, ``lpips`` and the Flare7K region metrics
``g-psnr``, ``s-psnr``, ``global-psnr``, ``flare-score`` (these need the colour-code mask).
"""
