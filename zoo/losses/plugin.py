"""Built-in plugin registering the loss zoo through ``zoo_register_losses`` (and the PatchGAN
discriminator through ``zoo_register_models``).

Factories are lazy ``"module:Class"`` strings, so ``zoo list`` imports no torch.  Each spec names
its reference test in ``extra["test"]``; ``extra["sample_inputs"]`` (a ``"module:function"``
returning a dict of tensors, see :mod:`zoo.losses.samples`) tells the battery in
``tests/losses/test_battery.py`` how to build inputs for losses whose inputs are not images.
"""
from zoo.hookspecs import hookimpl

_T = "tests/losses/"
_SAMPLES = "zoo.losses.samples:"


@hookimpl
def zoo_register_losses(register):
    # ------------------------------------------------------------------------------- pixel
    pixel = dict(tags=("pixel",))
    register("l1", "zoo.losses.pixel:L1Loss", aliases=("mae",), doc="Mean absolute error.",
             formula="mean |pred - target|", citation="(classical; = torch F.l1_loss)",
             extra={"test": _T + "test_pixel.py::test_matches_torch"}, **pixel)
    register("l2", "zoo.losses.pixel:L2Loss", aliases=("mse",), doc="Mean squared error.",
             formula="mean (pred - target)^2", citation="(classical; = torch F.mse_loss)",
             extra={"test": _T + "test_pixel.py::test_matches_torch"}, **pixel)
    register("smooth-l1", "zoo.losses.pixel:SmoothL1Loss",
             doc="Smooth L1: quadratic below beta, linear above.",
             formula="mean(0.5 d^2/beta if |d| < beta else |d| - beta/2), d = pred - target",
             citation="Girshick, Fast R-CNN, ICCV 2015",
             extra={"test": _T + "test_pixel.py::test_matches_torch"}, **pixel)
    register("huber", "zoo.losses.pixel:HuberLoss", doc="Huber loss with threshold delta.",
             formula="mean(0.5 d^2 if |d| <= delta else delta (|d| - delta/2))",
             citation="Huber, Robust Estimation of a Location Parameter, Ann. Math. Stat. 1964",
             extra={"test": _T + "test_pixel.py::test_matches_torch"}, **pixel)
    register("charbonnier", "zoo.losses.pixel:CharbonnierLoss",
             doc="Charbonnier (differentiable L1), eps = 1e-3.",
             formula="mean sqrt((pred - target)^2 + eps^2)",
             citation="Charbonnier et al., ICIP 1994; Lai et al., LapSRN, CVPR 2017",
             extra={"test": _T + "test_pixel.py::test_charbonnier_by_hand"}, **pixel)
    register("log-mse", "zoo.losses.pixel:LogMSELoss",
             doc="10 log10(MSE + eps) per image: negative PSNR (data range 1) up to eps.",
             formula="10 log10(mean_image (pred - target)^2 + eps) = -PSNR",
             citation="PSNR: e.g. Huynh-Thu & Ghanbari, Electronics Letters 2008",
             extra={"test": _T + "test_pixel.py::test_log_mse_is_negative_psnr"}, **pixel)

    # ------------------------------------------------------------------------------- structural
    structural = dict(tags=("structural",))
    register("ssim", "zoo.losses.ssim:SSIMLoss",
             doc="1 - SSIM (Gaussian window 11, sigma 1.5; fast hand-written kernel).",
             formula="1 - mean (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)"
                     "(s_x^2 + s_y^2 + C2)), C1 = (0.01 L)^2, C2 = (0.03 L)^2",
             citation="Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004",
             extra={"test": _T + "test_ssim.py::test_ssim_matches_pytorch_msssim_and_piq",
                    "sample_kwargs": {"win_size": 7}}, **structural)
    register("ms-ssim", "zoo.losses.ssim:MSSSIMLoss",
             doc="1 - MS-SSIM (5 scales, weights 0.0448 0.2856 0.3001 0.2363 0.1333).",
             formula="1 - prod_{j<5} relu(cs_j)^w_j * relu(ssim_5)^w_5, 2x2 avg-pool "
                     "between scales",
             citation="Wang, Simoncelli, Bovik, Asilomar 2003",
             extra={"test": _T + "test_ssim.py::test_ms_ssim_matches_pytorch_msssim_and_piq",
                    "sample_kwargs": {"win_size": 3}, "min_size": 33}, **structural)
    register("l1+ms-ssim", "zoo.losses.mixed:L1MSSSIMLoss",
             doc="Zhao et al.'s mix: 0.84 (1 - MS-SSIM) + 0.16 Gaussian-weighted L1.",
             formula="alpha (1 - MS-SSIM) + (1 - alpha) mean(G_sigma * |pred - target|), "
                     "alpha = 0.84",
             citation="Zhao, Gallo, Frosio, Kautz, Loss Functions for Image Restoration with "
                      "Neural Networks, IEEE TCI 2017",
             extra={"test": _T + "test_structural.py::test_l1_ms_ssim_by_parts",
                    "sample_kwargs": {"win_size": 3, "l1_win_size": 3}, "min_size": 33},
             **structural)
    register("gradient", "zoo.losses.gradient:GradientLoss",
             doc="L1 between Sobel image gradients (kornia).",
             formula="mean |grad(pred) - grad(target)|, grad = normalised Sobel x, y",
             citation="Mathieu, Couprie, LeCun, ICLR 2016 (gradient difference loss)",
             extra={"test": _T + "test_structural.py::test_gradient_by_hand"}, **structural)
    register("laplacian", "zoo.losses.laplacian:LaplacianLoss",
             doc="Laplacian-pyramid L1 (kornia pyramid), `levels` bands.",
             formula="sum_j mean |Lap_j(pred) - Lap_j(target)|",
             citation="Bojanowski et al., Optimizing the Latent Space of Generative Networks, "
                      "ICML 2018 (Lap1)",
             extra={"test": _T + "test_structural.py::test_laplacian_by_hand"}, **structural)
    register("tv", "zoo.losses.tv:TVLoss", inputs=("pred",),
             doc="Anisotropic total variation of one image.",
             formula="mean |x[i+1,j] - x[i,j]| + mean |x[i,j+1] - x[i,j]|",
             citation="Rudin, Osher, Fatemi, Physica D 1992",
             extra={"test": _T + "test_structural.py::test_tv_by_hand"}, **structural)
    register("colour", "zoo.losses.colour:ColourLoss", aliases=("color",),
             doc="Mean angle between RGB vectors (DeepUPE colour loss), radians.",
             formula="mean_p arccos(<pred_p, target_p> / (|pred_p| |target_p|))",
             citation="Wang et al., Underexposed Photo Enhancement using Deep Illumination "
                      "Estimation, CVPR 2019",
             extra={"test": _T + "test_structural.py::test_colour_by_hand"}, tags=("colour",))

    # ------------------------------------------------------------------------------- low-light
    low = ("low-light",)
    decom_inputs = ("r_low", "i_low", "r_high", "i_high", "low", "high")
    register("region", "zoo.losses.region:RegionLoss", tags=low,
             doc="MBLLEN region loss: darkest 40% of the prediction weighted 4, the rest 1.",
             formula="4 mean_dark |pred - gt| + 1 mean_rest |pred - gt|, dark = lowest 40% of "
                     "0.39R + 0.5G + 0.11B of pred",
             citation="Lv, Lu, Wu, Lim, MBLLEN, BMVC 2018",
             extra={"test": _T + "test_lowlight.py::test_region_by_hand"})
    register("retinex-decom", "zoo.losses.retinex:RetinexDecomLoss", tags=low,
             inputs=decom_inputs,
             doc="Retinex-Net decomposition loss (recon, cross recon, invariable R, smooth I).",
             formula="|R_l I_l - S_l| + |R_h I_h - S_h| + 0.001 (|R_h I_l - S_l| + "
                     "|R_l I_h - S_h|) + 0.01 |R_l - R_h| + 0.1 sum smooth(I, R), "
                     "smooth = |grad I| exp(-10 avg|grad R|)",
             citation="Wei, Wang, Yang, Liu, Deep Retinex Decomposition, BMVC 2018",
             extra={"test": _T + "test_lowlight.py::test_retinex_decom_by_hand",
                    "sample_inputs": _SAMPLES + "decomposition"})
    register("retinex-relight", "zoo.losses.retinex:RetinexRelightLoss", tags=low,
             inputs=("r_low", "i_delta", "high"),
             doc="Retinex-Net enhancement loss: |R_low I_delta - S_high| + 3 smooth(I_delta).",
             formula="|R_l I_delta - S_h|_1 + 3 smooth(I_delta, R_l)",
             citation="Wei, Wang, Yang, Liu, Deep Retinex Decomposition, BMVC 2018",
             extra={"test": _T + "test_lowlight.py::test_retinex_relight_by_hand",
                    "sample_inputs": _SAMPLES + "decomposition"})
    register("kind-decom", "zoo.losses.kind:KinDDecomLoss", tags=low, inputs=decom_inputs,
             doc="KinD decomposition loss (recon, R similarity, I smoothness, mutual consist.).",
             formula="recon + 0.01 |R_l - R_h| + 0.15 sum |grad I / max(|grad S|, 0.01)| + "
                     "0.2 M exp(-10 M), M = |grad I_l| + |grad I_h|",
             citation="Zhang, Zhang, Guo, Kindling the Darkness, ACM MM 2019",
             extra={"test": _T + "test_lowlight.py::test_kind_decom_by_hand",
                    "sample_inputs": _SAMPLES + "decomposition"})
    register("kind-restore", "zoo.losses.kind:KinDRestoreLoss", tags=low,
             inputs=("r_restored", "r_high"),
             doc="KinD reflectance restoration: MSE + (1 - SSIM) + gradient MSE.",
             formula="|R^ - R_h|^2 + (1 - SSIM(R^, R_h)) + |grad R^ - grad R_h|^2",
             citation="Zhang, Zhang, Guo, Kindling the Darkness, ACM MM 2019",
             extra={"test": _T + "test_lowlight.py::test_kind_restore_by_parts"})
    register("kind-adjust", "zoo.losses.kind:KinDAdjustLoss", tags=low,
             inputs=("i_adjusted", "i_target"),
             doc="KinD illumination adjustment: MSE + MSE of gradient magnitudes.",
             formula="|L^ - L_t|^2 + | |grad L^| - |grad L_t| |^2",
             citation="Zhang, Zhang, Guo, Kindling the Darkness, ACM MM 2019",
             extra={"test": _T + "test_lowlight.py::test_kind_adjust_by_hand",
                    "sample_inputs": _SAMPLES + "decomposition"})
    zero_dce = "Guo et al., Zero-Reference Deep Curve Estimation, CVPR 2020"
    register("zero-dce-spatial", "zoo.losses.zero_dce:ZeroDCESpatialLoss", tags=low,
             inputs=("enhanced", "low"),
             doc="Zero-DCE spatial consistency of 4x4 region-mean neighbour differences.",
             formula="mean sum_{k in l,r,u,d} (D_k(Y) - D_k(I))^2", citation=zero_dce,
             extra={"test": _T + "test_lowlight.py::test_zero_dce_terms_by_hand"})
    register("zero-dce-exposure", "zoo.losses.zero_dce:ZeroDCEExposureLoss", tags=low,
             inputs=("enhanced",),
             doc="Zero-DCE exposure control: 16x16 patch means towards E = 0.6.",
             formula="mean_patches (Y_patch - 0.6)^2", citation=zero_dce,
             extra={"test": _T + "test_lowlight.py::test_zero_dce_terms_by_hand"})
    register("zero-dce-colour", "zoo.losses.zero_dce:ZeroDCEColourLoss", tags=low,
             inputs=("enhanced",), aliases=("zero-dce-color",),
             doc="Zero-DCE colour constancy (grey world) of the channel means.",
             formula="sqrt(sum_{(p,q)} ((J^p - J^q)^2)^2), (p,q) in (R,G), (R,B), (G,B)",
             citation=zero_dce,
             extra={"test": _T + "test_lowlight.py::test_zero_dce_terms_by_hand"})
    register("zero-dce-illumination-tv", "zoo.losses.zero_dce:ZeroDCEIlluminationTVLoss",
             tags=low, inputs=("curves",),
             doc="Zero-DCE illumination smoothness of the curve parameter maps.",
             formula="2 (sum (dA/dy)^2 / ((H-1) W) + sum (dA/dx)^2 / (H (W-1)))",
             citation=zero_dce,
             extra={"test": _T + "test_lowlight.py::test_zero_dce_terms_by_hand",
                    "sample_inputs": _SAMPLES + "zero_dce"})
    register("zero-dce", "zoo.losses.zero_dce:ZeroDCELoss", tags=low,
             inputs=("enhanced", "low", "curves"),
             doc="Zero-DCE objective: 200 L_tvA + L_spa + 5 L_col + 10 L_exp.",
             formula="200 L_tvA + 1 L_spa + 5 L_col + 10 L_exp (E = 0.6, patch 16)",
             citation=zero_dce + " (weights of the authors' lowlight_train.py)",
             extra={"test": _T + "test_lowlight.py::test_zero_dce_total_is_weighted_sum",
                    "sample_inputs": _SAMPLES + "zero_dce"})

    # ------------------------------------------------------------------------------- metric learning
    register("info-nce", "zoo.losses.contrastive:InfoNCELoss",
             inputs=("anchor", "positive", "negative"), tags=("metric-learning", "contrastive"),
             doc="InfoNCE on embeddings: clean anchor vs another clean view (positive) and "
                 "flare-corrupted negatives (the batch's, or the anchor's own).",
             formula="-log(exp(s(a,p)/tau) / (exp(s(a,p)/tau) + sum_j exp(s(a,n_j)/tau))), "
                     "s = cosine similarity, tau = 0.1, j over the batch (negatives='batch') "
                     "or j = i (negatives='paired')",
             citation="van den Oord, Li & Vinyals, Representation Learning with Contrastive "
                      "Predictive Coding, arXiv:1807.03748; Chen et al., SimCLR, ICML 2020",
             extra={"test": _T + "test_contrastive.py::test_info_nce_by_hand"})

    # ------------------------------------------------------------------------------- classification / GAN
    register("cross-entropy", "zoo.losses.classification:CrossEntropyLoss",
             inputs=("logits", "target"), tags=("classification",),
             doc="Softmax cross-entropy of logits against class indices or probabilities.",
             formula="-sum_k t_k log softmax(z)_k (optional label smoothing)",
             citation="(classical; wraps torch F.cross_entropy)",
             extra={"test": _T + "test_adversarial.py::test_cross_entropy_matches_torch",
                    "sample_inputs": _SAMPLES + "classification"})
    register("adversarial", "zoo.losses.adversarial:AdversarialLoss",
             inputs=("fake_logits", "real_logits"), tags=("adversarial",),
             doc="GAN loss (vanilla / lsgan / hinge) for the generator or discriminator side.",
             formula="vanilla: G bce(D(G(z)),1), D bce(D(x),1)+bce(D(G(z)),0); lsgan: "
                     "G 0.5(D(G(z))-1)^2, D 0.5(D(x)-1)^2+0.5 D(G(z))^2; hinge: G -D(G(z)), "
                     "D relu(1-D(x))+relu(1+D(G(z)))",
             citation="Goodfellow et al. NeurIPS 2014; Mao et al. ICCV 2017; Lim & Ye 2017",
             presets={f"{m}-{s[0]}": {"mode": m, "side": s}
                      for m in ("vanilla", "lsgan", "hinge")
                      for s in ("generator", "discriminator")},
             extra={"test": _T + "test_adversarial.py::test_adversarial_by_hand",
                    "sample_inputs": _SAMPLES + "discriminator_logits"})


@hookimpl
def zoo_register_models(register):
    register("patchgan", "zoo.losses.patchgan:PatchGANDiscriminator",
             doc="PatchGAN discriminator (pix2pix 70x70 for n_layers=3); outputs patch logits.",
             citation="Isola, Zhu, Zhou, Efros, Image-to-Image Translation with Conditional "
                      "Adversarial Networks, CVPR 2017",
             presets={"t": {"ndf": 16, "n_layers": 2}}, tags=("discriminator", "gan"),
             extra={"test": _T + "test_adversarial.py::test_patchgan_any_size"})
