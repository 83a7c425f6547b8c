//! The `build` block of the upgrade: its sources, provisioners (one block per build an
//! override changes) and post-processor chains.

use super::*;

impl<'n> Upgrade<'_, 'n> {
    pub(super) fn build(&mut self) -> String {
        let t = self.t;
        let mut body = Vec::new();
        if let Some(d) = &t.description {
            body.push(Item::Attr("description".into(), Expr::Template(escape(d))));
            body.push(Item::Blank);
        }
        let refs: Vec<Expr> = self
            .sources
            .iter()
            .map(|s| Expr::Template(escape(&format!("source.{}.{}", s.builder.ty, s.label))))
            .collect();
        body.push(Item::Attr("sources".into(), Expr::List(refs)));
        for (i, p) in t.provisioners.iter().enumerate() {
            for (comment, block) in self.provisioner(p, i + 1) {
                body.push(Item::Blank);
                if let Some(c) = comment {
                    body.push(Item::Comment(c));
                }
                body.push(Item::Block(block));
            }
        }
        if let Some(p) = &t.cleanup {
            let mut notes = Vec::new();
            if !p.overrides.is_empty() {
                notes.push(
                    "The JSON error-cleanup-provisioner had an \"override\", which HCL2 cannot\n\
                     express for it; it is left out."
                        .to_owned(),
                );
            }
            let extra = step_meta(p, vec![]);
            let (block, note) = self.block(
                "error-cleanup-provisioner",
                vec![p.ty.clone()],
                &p.config,
                &p.kiln,
                extra,
                Place::Build,
            );
            notes.extend(note.map(|w| fallback_note(&w)));
            body.push(Item::Blank);
            if !notes.is_empty() {
                body.push(Item::Comment(notes.join("\n")));
            }
            body.push(Item::Block(block));
        }
        for chain in &t.post_processors {
            if let Some((comment, block)) = self.post_processors(chain) {
                body.push(Item::Blank);
                if let Some(c) = comment {
                    body.push(Item::Comment(c));
                }
                body.push(Item::Block(block));
            }
        }
        let mut out = String::new();
        write_block(
            &mut out,
            &Block {
                ident: "build".into(),
                labels: vec![],
                body,
            },
            0,
        );
        out
    }

    /// The blocks of one JSON provisioner: one, or with an `override`, one per set of
    /// builds that sees the same configuration.
    fn provisioner(&mut self, p: &Provisioner<'n>, index: usize) -> Vec<(Option<String>, Block)> {
        let applies: Vec<&str> = self
            .sources
            .iter()
            .map(|s| s.builder.name.as_str())
            .filter(|n| p.applies_to(n))
            .collect();
        let overridden: Vec<&str> = applies
            .iter()
            .copied()
            .filter(|n| p.override_for(n).is_some())
            .collect();
        let list = |names: &[&str], this: &Self| {
            Expr::List(
                names
                    .iter()
                    .map(|n| Expr::Template(escape(&this.reference(n))))
                    .collect(),
            )
        };
        let mut groups: Vec<StepGroup<'_>> = Vec::new();
        if overridden.is_empty() {
            let mut meta = vec![];
            if !p.only.is_empty() {
                let names: Vec<&str> = p.only.iter().map(|(n, _)| n.as_str()).collect();
                meta.push(("only".to_owned(), list(&names, self)));
            } else if !p.except.is_empty() {
                let names: Vec<&str> = p.except.iter().map(|(n, _)| n.as_str()).collect();
                meta.push(("except".to_owned(), list(&names, self)));
            }
            groups.push((meta, p.config.clone(), None));
        } else {
            for name in &overridden {
                let mut members = p.config.clone();
                if let Some(o) = p.override_for(name).and_then(|o| o.value.members()) {
                    members.retain(|m| o.iter().all(|x| x.key != m.key));
                    members.extend(o.iter());
                }
                groups.push((
                    vec![("only".to_owned(), list(&[name], self))],
                    members,
                    Some(format!(
                        "Provisioner {index} of the JSON template, with its \"override\" for \"{name}\"."
                    )),
                ));
            }
            let rest: Vec<&str> = applies
                .iter()
                .copied()
                .filter(|n| !overridden.contains(n))
                .collect();
            if !rest.is_empty() {
                groups.push((
                    vec![("only".to_owned(), list(&rest, self))],
                    p.config.clone(),
                    Some(format!(
                        "Provisioner {index} of the JSON template, for the other builds."
                    )),
                ));
            }
        }
        groups
            .into_iter()
            .map(|(meta, members, comment)| {
                let extra = step_meta(p, meta);
                let (block, note) = self.block(
                    "provisioner",
                    vec![p.ty.clone()],
                    &members,
                    &p.kiln,
                    extra,
                    Place::Build,
                );
                let comment = match (comment, note) {
                    (Some(c), Some(n)) => Some(format!("{c}\n{}", fallback_note(&n))),
                    (c, n) => c.or(n.map(|n| fallback_note(&n))),
                };
                (comment, block)
            })
            .collect()
    }

    /// A post-processor chain: a `post-processor` block for a chain of one, else a
    /// `post-processors` block, written as Packer's upgrade writes them
    /// (`keep_input_artifact` first, then the rest sorted, `name` left out when it is
    /// the type), with `only` / `except` naming sources.
    fn post_processors(&mut self, chain: &[PostProcessor<'n>]) -> Option<(Option<String>, Block)> {
        let mut blocks = Vec::new();
        let mut notes = Vec::new();
        for p in chain {
            let mut extra = Vec::new();
            for (key, list) in [("only", &p.only), ("except", &p.except)] {
                if !list.is_empty() {
                    let refs = list
                        .iter()
                        .map(|(n, _)| Expr::Template(escape(&self.reference(n))))
                        .collect();
                    extra.push((key.to_owned(), Expr::List(refs)));
                }
            }
            if let Some(n) = p.name.as_ref().filter(|n| **n != p.ty) {
                extra.push(("name".to_owned(), Expr::Template(escape(n))));
            }
            if let Some(d) = p.timeout {
                extra.push(("timeout".to_owned(), Expr::Template(go_duration_string(d))));
            }
            let (mut block, note) = self.block(
                "post-processor",
                vec![p.ty.clone()],
                &p.config,
                &p.kiln,
                extra,
                Place::Build,
            );
            if let Some(keep) = p.keep_input_artifact {
                block.body.insert(
                    0,
                    Item::Attr("keep_input_artifact".into(), Expr::Raw(keep.to_string())),
                );
            }
            notes.extend(note.map(|n| fallback_note(&n)));
            blocks.push(block);
        }
        let comment = (!notes.is_empty()).then(|| notes.join("\n"));
        match blocks.len() {
            0 => None,
            1 => blocks.pop().map(|b| (comment, b)),
            _ => Some((
                comment,
                Block {
                    ident: "post-processors".into(),
                    labels: vec![],
                    body: blocks.into_iter().map(Item::Block).collect(),
                },
            )),
        }
    }
}

/// One provisioner block written for a JSON provisioner: its `only` / `except`, its
/// attributes and a comment saying which builds it is for.
type StepGroup<'a> = (Vec<(String, Expr)>, Vec<&'a Member>, Option<String>);

/// Packer's settings of a step as HCL2 attributes, after `meta` (`only` / `except`).
fn step_meta(p: &Provisioner<'_>, mut meta: Vec<(String, Expr)>) -> Vec<(String, Expr)> {
    if let Some(d) = p.pause_before {
        meta.push(("pause_before".into(), Expr::Template(go_duration_string(d))));
    }
    if let Some(d) = p.timeout {
        meta.push(("timeout".into(), Expr::Template(go_duration_string(d))));
    }
    if let Some((text, _)) = &p.max_retries {
        meta.push((
            "max_retries".into(),
            match text.trim_start_matches('+').parse::<i64>() {
                Ok(n) => Expr::Raw(n.max(0).to_string()),
                Err(_) => Expr::Template(
                    Transposer::default()
                        .string(text, Place::Core)
                        .unwrap_or_else(|_| escape(text)),
                ),
            },
        ));
    }
    if p.cacheable {
        meta.push(("cacheable".into(), Expr::Raw("true".into())));
    }
    meta
}
