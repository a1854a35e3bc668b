# Held-out cases, part 6 (corpus papers #160-#162).
CASES = [
dict(q="How can decoding reduce object hallucinations in LVLMs without retraining?",
     ctx=[160, 135], label="f",
     s=["Language Contrastive Decoding adjusts an LVLM's outputs based on the confidence levels of an LLM's distribution, targeting hallucinations caused by reliance on text cues and object co-occurrence biases [#160].",
        "On the COCO validation set it gave up to 4% higher POPE F1 and up to 36% lower CHAIR scores, without complex post-processing or retraining [#160].",
        "Training-based alternatives such as S-VCO finetune VLMs on minimal visual contrasts and report up to a 22% reduction in hallucinations [#135]."]),
dict(q="Can a small language model make LLM pre-training more efficient?",
     ctx=[161, 162], label="f",
     s=["One paradigm uses a small LM both to provide soft labels as extra supervision and to select a small subset of informative, hard training examples [#161].",
        "This reduced training time relative to standard training while improving quality, as shown by using a 1.5B-parameter model to help pre-train a 2.8B-parameter LLM on the Pile [#161].",
        "The accompanying theory suggests the small model's supervision should be used adaptively, balancing the bias and variance of its soft labels [#161]."]),
]
