"""A notebook-first research kit for fairness in knowledge distillation

Modules:

- `fairkd_nb.cache`: Precompute what frozen teachers say about every training sample once, keep it in one memory-mapped array, and reuse it across epochs and runs — with exactly the numbers the online teacher would give.
- `fairkd_nb.core`: Seeding, device and precision, presets, run folders, atomic writes, safe checkpoints, parameter checks and progress bars: the small things every notebook of the kit relies on.
- `fairkd_nb.data.real`: Loaders for CelebA, FairFace, UTKFace, BFW, RFW, insightface `.bin` pair sets, BUPT-Balancedface, MS1MV2 RecordIO, WIDER Attribute and CIFAR-100, reading the original on-disk formats from a folder you point the kit at, and yielding the same batch dict as SynthFaces.
- `fairkd_nb.data.synth`: Procedural, vectorised face-like images with known generative factors (group, gender, age, identity, attributes, pose), in four task views — identity verification, binary attribute, multi-class, generation — so that bias can be dialled in and measured against ground truth.
- `fairkd_nb.distillers`: KD, FitNet (three protocols), AT, RKD, CTKD, KD++, DKD and MFD as `Distiller`s of a few dozen lines each, built on the loss terms of `fairkd_nb.losses`, with a registry: `build_distiller("dkd", teacher, student, beta=8)`.
- `fairkd_nb.heads`: ArcFace, CosFace and ElasticArcFace: softmax heads on the hypersphere with an angular or cosine margin, usable with trainable class centres or with a frozen/external centre matrix (ArcDistill, AdaDistill).
- `fairkd_nb.losses`: The loss zoo of the kit: Hinton KD, FitNet, attention transfer, RKD, CTKD, KD++ (ND), DKD, MFD, BIRD's equalized-odds loss, gradient reversal and Zhang-style gradient projection — each with its equations, the defaults of its paper or official code, and the defects of earlier code that we do not repeat.
- `fairkd_nb.methods.adadistill`: Boutros, Štruc, Damer — *AdaDistill: Adaptive Knowledge Distillation for Deep Face Recognition*, ECCV 2024 (arXiv 2407.01332). Also: ArcDistill/CosDistill, vanilla KD and standalone baselines.
- `fairkd_nb.methods.advdebias`: A re-implementation of the W210 capstone "Advancing Knowledge Distillation Models … Adversarial Debiasing" (UC Berkeley MIDS, 2023; kdhutton/W210-Capstone): does a distilled student amplify its teacher's gender disparity in scene recognition, and how much of it does an adversary remove, at what accuracy cost? Spec: `shared/specs/advdebias.md`, losses `kd_losses.md`.
- `fairkd_nb.methods.bird`: Java, Jandial, Agarwal — *Towards Fair Knowledge Distillation using Student Feedback* (ICML 2023 workshops ES-FoMo / SCIS; code AikyamLab/BIRD). Baselines under one protocol: vanilla, BKD, FitNet (two stages), AT, AD (gradient projection), MFD (RBF MMD).
- `fairkd_nb.methods.fairgan`: After fair-distill (ksasi/fair-distill, 2022–23), TinyGAN (Chang & Lu, ACCV 2020) and FairFace (Kärkkäinen & Joo, WACV 2021). Spec: `shared/specs/fairgan.md`.
- `fairkd_nb.metrics`: Group-fairness metrics for classifiers, face-verification fairness metrics on a generic pair table, and balance metrics for generated samples. Every function is a pure function of arrays or DataFrames: no file is read here, so BFW, RFW `.bin` sets and SynthFaces give identical numbers for identical inputs.
- `fairkd_nb.models`: Backbones behind one interface: iResNet-18/34/50/100 and MobileFaceNet-GDC for face recognition, torchvision ResNets and ShuffleNetV2, and small CPU networks for SynthFaces, all built by `build_model`.
- `fairkd_nb.runner`: Run a method notebook with parameters (checked before a kernel starts), sweep a grid in parallel or on a cluster, and turn run folders into a report — from Python or from the `fairkd` command.
- `fairkd_nb.train`: The `Distiller` interface, one `fit` loop for every method (optimisers, schedules, mixed precision, several processes, evaluation, checkpoints, exact resume, a NaN guard) and the distributed helpers methods need.
- `fairkd_nb.tutorial`: What knowledge distillation (KD) is, how a teacher's bias reaches a student — and sometimes grows there — measured on SynthFaces in a few minutes on a laptop CPU, with interactive explorers and exercises.
- `fairkd_nb.viz`: The kit's bias plots — score distributions, DET curves, realised FAR, group accuracies, attribute shares, rank-1 confusion, FDR, training curves — in one style with fixed group colours, plus an ipywidgets explorer of run folders."""

__version__ = "0.1.0"
