"""Compression of credit models into smaller, faster, cheaper ordinary bundles.

One module per idea: :mod:`.plain` turns a trained DNN into a plain MLP (batch
normalisation folded into the linear layers, exactly the same function in eval mode) and
finds the nets inside a bundle's last step; :mod:`.steps` holds the encoded rows, the
fine-tuning loop and the accuracy gate that every step passes through; :mod:`.pruning`
(magnitude and neuron pruning, iterative with fine-tuning), :mod:`.quantization` (INT8
with ONNX Runtime: dynamic, static, and quantization-aware training with torchao's fake
quantizers; torchao's own INT8 kernels measured beside it), :mod:`.distillation`
(teacher -> MLP or LightGBM student on temperature-scaled soft targets); :mod:`.onnx_net`
is the scikit-learn classifier that serves an ONNX net from a bundle; :mod:`.measure`
makes the comparison table (size, latency, throughput, energy, AUC, fairness gap).

Every result is an ordinary :class:`~greenscore.models.bundle.ScoringBundle`: the same
feature steps, a new last step.
"""
